//! The `#[normalize]` and `#[network]` attributes of
//! [constnorm](https://docs.rs/constnorm). Use them through the `constnorm`
//! crate, which re-exports them together with the runtime the generated code
//! calls.
//!
//! Each attribute is a parse / validate / expand pipeline
//! (`expand::normalize`, `network::network`; ARCHITECTURE.md at the
//! repository root is the map): every misuse is a spanned compile error, all
//! of them reported in one build, and the macro never panics.

mod args;
mod errors;
mod expand;
mod item;
mod kind;
mod network;
#[cfg(test)]
mod snapshots;
mod symbol;
#[cfg(test)]
mod tests;
mod valid;
mod window;

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
///   - `batch`: batch normalization (PyTorch's `BatchNorm1d/2d/3d`): each
///     channel is normalized with the batch's statistics in training and with
///     running averages of them in inference.
///   - `layer`: layer normalization (`LayerNorm`): each example is
///     normalized over its own `dims` values, the same in both modes.
///   - `rms`: RMS normalization (`RMSNorm`): each example is divided by its
///     root mean square over `dims`.
///   - `group`: group normalization (`GroupNorm`): each example's channels,
///     in `groups` groups, each group normalized on its own.
///   - `instance`: instance normalization (`InstanceNorm1d/2d/3d`): each
///     channel of each example normalized over its spatial positions.
/// - `dims = N` or `dims = [A, B, ...]` (required): for layer and RMS norm the
///   normalized shape (up to 4 dims); for the others the number of channels.
///   Every size (here and in `spatial` and `groups`) may be a literal, a named
///   constant or a const expression (`dims = HIDDEN`, `dims = [SEQ, 2 * D]`);
///   the checks on a constant are const assertions with the same messages.
/// - `spatial = L`, `[H, W]` or `[D, H, W]` (batch, group, instance; required
///   for instance): the spatial dims after the channel.
/// - `groups = G` (group, required): divides `dims`.
/// - `eps = 1e-5` (default `1e-5`; RMS norm: the dtype's machine epsilon):
///   added to the variance inside the square root; a finite number > 0.
/// - `momentum = 0.1` (with running statistics, default `0.1`): the weight of
///   each new batch, in [0, 1]; `momentum = none` gives PyTorch's cumulative
///   moving average (`momentum=None`; batch norm only).
/// - `affine = false` (default `true`, instance norm `false`): no learned
///   `weight` and `bias`.
/// - `bias = false` / `bias = true` (layer and RMS norm; default `true` for
///   layer, `false` for RMS, as in PyTorch): whether there is a `bias`.
/// - `track_running_stats = false` / `true` (batch and instance; default
///   `true` for batch, `false` for instance): running statistics for
///   inference.
/// - `dtype = f32` (default `f32`) or `dtype = f64`: the scalar type.
/// - `crate = path` (default `::constnorm`): where the `constnorm` crate is,
///   for crates that re-export it under another path.
///
/// ```
/// # use constnorm::normalize;
/// #[normalize(batch, dims = 8, momentum = none, dtype = f64)]
/// struct Cumulative;
///
/// #[normalize(batch, dims = 16, spatial = [8, 8])] // BatchNorm2d(16) on 8x8
/// struct Bn2d;
///
/// #[normalize(rms, dims = [4, 64], eps = 1e-6)]
/// struct Rms;
///
/// #[normalize(group, dims = 32, groups = 8, spatial = [4, 4])]
/// struct Gn;
///
/// #[normalize(instance, dims = 3, spatial = 100, affine = true)]
/// struct In1d;
///
/// mod reexported { pub use constnorm as norm; }
/// #[normalize(layer, dims = 4, eps = 1e-6, bias = false, crate = reexported::norm)]
/// struct Custom;
/// ```
///
/// # What it generates
/// The struct keeps its name, visibility, doc comments and attributes and
/// gets public fields named after PyTorch's state dict, for the parameters
/// and statistics it has: `weight` and `bias` (per value for layer and RMS
/// norm, per channel otherwise), `running_mean`, `running_var` (per channel)
/// and `num_batches_tracked` (`u64`). It gets `new()` (a `const fn`) and
/// `Default` with PyTorch's initial values, `Clone`, `Debug` and `PartialEq`
/// (so do not derive those yourself), the constants `DIMS`, `EPS` and, where
/// they apply, `SPATIAL`, `GROUPS` and `MOMENTUM`, and implementations of
/// `constnorm::Layer` (forward and backward), `constnorm::Parameters` (for the
/// optimizers), `constnorm::Normalization` and `constnorm::StateDict`, so it
/// can be a field of a `#[network]`.
///
/// # Errors
/// Compile errors, each on the offending token: an unknown kind or argument
/// (with a suggestion for near misses and for PyTorch's names), a duplicate
/// argument, a missing kind, `dims`, `groups` or `spatial`, a zero or empty
/// shape, `groups` that does not divide `dims`, `eps <= 0` or not finite,
/// `momentum` outside [0, 1] or without running statistics, an argument that
/// does not apply to the kind, `bias = true` with `affine = false`, and the
/// attribute on anything but a unit struct without generics.
#[proc_macro_attribute]
pub fn normalize(attr: TokenStream, item: TokenStream) -> TokenStream {
    expand::normalize(attr.into(), item.into()).into()
}

/// Turns a struct whose named fields are layers, in order, into a network:
/// forward (training and inference) and backward through the chain, a
/// workspace for a constant batch size that holds every intermediate value,
/// a gradient struct, parameter visiting for the optimizers and the
/// PyTorch state dict with nested keys.
///
/// ```
/// use constnorm::nn::{Linear, Relu};
/// use constnorm::{network, normalize};
///
/// #[normalize(batch, dims = 16)]
/// struct Bn16;
///
/// #[network]
/// #[derive(Default)]
/// struct Mlp {
///     fc1: Linear<4, 16>,
///     bn1: Bn16,
///     act1: Relu<16>,
///     out: Linear<16, 3>,
/// }
/// ```
///
/// It generates, next to the struct `Mlp` (kept as written):
/// - `MlpWorkspace<const B: usize>`: each layer's output for a batch of `B`
///   (public fields named after the layers), the values backward needs, and
///   the gradient buffers;
/// - `MlpGrads`: one gradient field per layer, `Default` is zeros;
/// - implementations of `constnorm::Network` (forward and backward),
///   `Parameters` (for `nn::Sgd` and `nn::Adam`) and `StateDict` (keys
///   `fc1.weight`, `bn1.running_mean`, ...).
///
/// # Arguments
/// - `sequential`: state-dict keys are field positions (`0.weight`,
///   `1.running_mean`), as `torch.nn.Sequential` names its children.
/// - `residual`: the network is `y = x + f(x)`, `f` the chain of its fields
///   (a ResNet block, a transformer's residual paths); the last field must
///   output the input's shape, and backward sends `dy` down both paths.
///
/// In a residual network, one field may be marked `#[shortcut]`: it is not in
/// the chain but the skip path, `y = f(x) + shortcut(x)` (ResNet's
/// `downsample`, a 1x1 convolution and a batch norm).
///
/// A field marked `#[nested]` is itself a `#[network]`: it runs in its own
/// workspace inside this one, and its keys nest under the field's name
/// (`layer1.conv1.weight`, as PyTorch names submodules).
///
/// ```
/// use constnorm::nn::{Linear, Tanh};
/// use constnorm::network;
///
/// #[network(residual)]
/// #[derive(Default)]
/// struct Block {
///     fc: Linear<8, 8>,
///     act: Tanh<8>,
/// }
///
/// #[network]
/// #[derive(Default)]
/// struct Net {
///     stem: Linear<2, 8>,
///     #[nested]
///     block1: Block,
///     #[nested]
///     block2: Block,
///     head: Linear<8, 1>,
/// }
/// ```
/// - `crate = path` (default `::constnorm`).
///
/// # Errors
/// A field whose input does not match the previous field's output is a
/// compile error that names both fields and both row types (and so both
/// sizes). The attribute on anything but a non-generic struct with named
/// fields, a `#[cfg]` on a layer, and unknown arguments are errors too.
#[proc_macro_attribute]
pub fn network(attr: TokenStream, item: TokenStream) -> TokenStream {
    network::network(attr.into(), item.into()).into()
}

/// A convolution over one spatial axis, as a layer type:
/// `conv1d!(in_channels, out_channels, kernel_size, stride = .., padding = ..,
/// dilation = .., groups = .., bias = .., input = [C, L])`, PyTorch's
/// `torch.nn.Conv1d` line plus the shape of one example; the output length is
/// computed at compile time. Expands to `constnorm::nn::Conv1d<...>`.
#[proc_macro]
pub fn conv1d(tokens: TokenStream) -> TokenStream {
    window::window(window::Window::Conv1d, tokens.into()).into()
}

/// A 2-d convolution as a layer type:
/// `conv2d!(in_channels, out_channels, kernel_size, stride = .., padding = ..,
/// dilation = .., groups = .., bias = .., input = [C, H, W])`, PyTorch's
/// `torch.nn.Conv2d` line plus the shape of one example (sizes may be
/// `k` or `[kh, kw]`, padding also `same` or `valid`). Expands to
/// `constnorm::nn::Conv2d<...>` with the output size computed.
///
/// ```
/// type Conv = constnorm::conv2d!(1, 4, 3, padding = 1, input = [1, 8, 8]);
/// let _: [[[f32; 8]; 8]; 4] = [[[0.0; 8]; 8]; 4]; // its output per example
/// ```
#[proc_macro]
pub fn conv2d(tokens: TokenStream) -> TokenStream {
    window::window(window::Window::Conv2d, tokens.into()).into()
}

/// `max_pool1d!(kernel_size, stride = .., padding = .., dilation = ..,
/// ceil_mode = .., input = [C, L])`: `torch.nn.MaxPool1d` as a layer type.
#[proc_macro]
pub fn max_pool1d(tokens: TokenStream) -> TokenStream {
    window::window(window::Window::MaxPool1d, tokens.into()).into()
}

/// `max_pool2d!(kernel_size, stride = .., padding = .., dilation = ..,
/// ceil_mode = .., input = [C, H, W])`: `torch.nn.MaxPool2d` as a layer type
/// (stride defaults to the kernel size, as in PyTorch).
#[proc_macro]
pub fn max_pool2d(tokens: TokenStream) -> TokenStream {
    window::window(window::Window::MaxPool2d, tokens.into()).into()
}

/// `avg_pool1d!(kernel_size, stride = .., padding = .., ceil_mode = ..,
/// count_include_pad = .., input = [C, L])`: `torch.nn.AvgPool1d` as a layer
/// type.
#[proc_macro]
pub fn avg_pool1d(tokens: TokenStream) -> TokenStream {
    window::window(window::Window::AvgPool1d, tokens.into()).into()
}

/// `avg_pool2d!(kernel_size, stride = .., padding = .., ceil_mode = ..,
/// count_include_pad = .., input = [C, H, W])`: `torch.nn.AvgPool2d` as a
/// layer type.
#[proc_macro]
pub fn avg_pool2d(tokens: TokenStream) -> TokenStream {
    window::window(window::Window::AvgPool2d, tokens.into()).into()
}
