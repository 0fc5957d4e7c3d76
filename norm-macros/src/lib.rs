//! The `#[normalize]` attribute of [constnorm](https://docs.rs/constnorm).
//! Use it through the `constnorm` crate, which re-exports it together with the
//! runtime the generated code calls.
//!
//! The crate is a parse / validate / expand pipeline (`expand::normalize`): every
//! misuse is a spanned compile error, all of them reported in one build, and
//! the macro never panics.

mod args;
mod errors;
mod expand;
mod item;
mod symbol;
#[cfg(test)]
mod tests;
mod valid;

use proc_macro::TokenStream;

/// Turns a unit struct into a fixed-size normalization layer.
///
/// ```
/// use constnorm::normalize;
///
/// #[normalize(layer, dims = 768)] // LayerNorm over 768 features
/// pub struct TokenNorm;
///
/// #[normalize(batch, dims = 16, momentum = 0.1, eps = 1e-5)]
/// pub struct HiddenBn; // BatchNorm1d over 16 channels
/// ```
///
/// # Arguments
/// - the kind, first by convention:
///   - `batch`: batch normalization (PyTorch's `BatchNorm1d` on `(batch, dims)`
///     input): each feature is normalized with the batch's statistics in
///     training and with running averages of them in inference.
///   - `layer`: layer normalization (PyTorch's `LayerNorm(dims)`): each row is
///     normalized over its own `dims` values, the same in both modes.
/// - `dims = N` (required): the number of features, an integer literal >= 1.
/// - `eps = 1e-5` (default `1e-5`): added to the variance inside the square
///   root; a finite number > 0.
/// - `momentum = 0.1` (batch only, default `0.1`): the weight of each new
///   batch in the running statistics, in [0, 1]; `momentum = none` gives
///   PyTorch's cumulative moving average (`momentum=None`).
/// - `dtype = f32` (default `f32`) or `dtype = f64`: the scalar type.
/// - `crate = path` (default `::constnorm`): where the `constnorm` crate is,
///   for crates that re-export it under another path.
///
/// ```
/// # use constnorm::normalize;
/// #[normalize(batch, dims = 8, momentum = none, dtype = f64)]
/// struct Cumulative;
///
/// mod reexported { pub use constnorm as norm; }
/// #[normalize(layer, dims = 4, eps = 1e-6, crate = reexported::norm)]
/// struct Custom;
/// ```
///
/// # What it generates
/// The struct keeps its name, visibility, doc comments and attributes and
/// gets public fields named after PyTorch's state dict: `weight` and `bias`
/// (`[T; N]`), and for batch norm `running_mean`, `running_var` (`[T; N]`)
/// and `num_batches_tracked` (`u64`). It gets `new()` (a `const fn`) and
/// `Default` with PyTorch's initial values, `Clone`, `Debug` and `PartialEq`
/// (so do not derive those yourself), the constants `DIMS`, `EPS` (and
/// `MOMENTUM`), and an implementation of `constnorm::Normalization`.
///
/// # Errors
/// Compile errors, each on the offending token: an unknown kind or argument
/// (with a suggestion for near misses and for PyTorch's names), a duplicate
/// argument, a missing kind or `dims`, `dims = 0` or not an integer literal,
/// `eps <= 0` or not finite, `momentum` outside [0, 1], an argument that does
/// not apply to the kind, and the attribute on anything but a unit struct
/// without generics.
#[proc_macro_attribute]
pub fn normalize(attr: TokenStream, item: TokenStream) -> TokenStream {
    expand::normalize(attr.into(), item.into()).into()
}
