//! Every argument `#[network]` understands, in one place.

pub const SEQUENTIAL: &str = "sequential";
pub const CRATE: &str = "crate";
pub const RESIDUAL: &str = "residual";
/// The arguments, in the order error messages list them.
pub const ARGS: &[&str] = &[SEQUENTIAL, RESIDUAL, CRATE];
/// The field attribute of a layer that is itself a `#[network]`.
pub const NESTED: &str = "nested";
/// The field attribute of a residual network's skip path (`y = f(x) + g(x)`).
pub const SHORTCUT: &str = "shortcut";
