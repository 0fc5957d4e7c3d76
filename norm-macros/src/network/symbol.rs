//! Every argument `#[network]` understands, in one place.

pub const SEQUENTIAL: &str = "sequential";
pub const CRATE: &str = "crate";
/// The arguments, in the order error messages list them.
pub const ARGS: &[&str] = &[SEQUENTIAL, CRATE];
