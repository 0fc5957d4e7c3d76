//! Validate: every argument present, in range and consistent, checked on
//! the values the macro knows (literals); sizes given as expressions are
//! left to the runtime's `const fn`s, which fail the build on the same
//! conditions.

use super::kind::{Family, Window};
use super::parse::{Args, Padding};
use crate::args::{self, Dtype, Shape, Size};
use crate::errors::Errors;
use crate::valid::positive;
use proc_macro2::{Span, TokenStream};
use quote::ToTokens;

/// Padding of every axis.
pub enum Pad {
    /// The same on both sides of each axis.
    Each(Vec<Size>),
    /// PyTorch's `"same"`.
    Same,
}

pub struct Config {
    pub window: Window,
    /// Channels of one input example.
    pub c_in: Size,
    /// Channels of one output example (pools: `c_in`).
    pub c_out: Size,
    pub groups: Size,
    /// The input's spatial sizes.
    pub spatial: Vec<Size>,
    pub kernel: Vec<Size>,
    pub stride: Vec<Size>,
    pub padding: Pad,
    pub dilation: Vec<Size>,
    pub bias: bool,
    pub ceil_mode: bool,
    pub count_include_pad: bool,
    pub dtype: Dtype,
    pub krate: syn::Path,
}

pub fn validate(window: Window, args: Args, errors: &mut Errors) -> Option<Config> {
    if !positional_count(window, &args, errors) {
        return None;
    }
    let names = window.positional();
    let mut positional = |i: usize| positional_arg(&args.positional[i], names[i], errors);
    let (c_out, kernel) = match window.family() {
        Family::Conv => (positional(1), positional(2)),
        Family::MaxPool | Family::AvgPool => (None, positional(0)),
    };
    let c_in_arg = (window.family() == Family::Conv)
        .then(|| positional(0))
        .flatten();
    let kernel_tokens = args.positional.last().map(ToTokens::to_token_stream);
    let kernel = axes(
        kernel.as_ref(),
        window.rank(),
        "kernel_size",
        &kernel_tokens,
        errors,
    );
    let input = input(window, &args, errors);
    let (stride, dilation, padding) = window_options(window, &args, kernel.as_ref(), errors);
    let groups = args
        .groups
        .as_ref()
        .map_or_else(|| Size::known(1), |g| g.value.clone());
    let input = input?;
    let c_in = input[0].clone();
    let c_out = c_out.map_or_else(|| c_in.clone(), |shape| shape.dims[0].clone());
    let channels_ok = channels(&c_in, &c_out, &groups, c_in_arg.as_ref(), &args, errors);
    let config = Config {
        window,
        c_in,
        c_out,
        groups,
        spatial: input[1..].to_vec(),
        kernel: kernel?,
        stride: stride?,
        padding: padding?,
        dilation: dilation?,
        bias: args.bias.as_ref().is_none_or(|b| b.value),
        ceil_mode: args.ceil_mode.as_ref().is_some_and(|c| c.value),
        count_include_pad: args.count_include_pad.as_ref().is_none_or(|c| c.value),
        dtype: args.dtype.as_ref().map_or(Dtype::F32, |d| d.value),
        krate: args
            .krate
            .as_ref()
            .map_or_else(|| syn::parse_quote!(::constnorm), |k| k.value.clone()),
    };
    let ok = channels_ok
        & ranges(&config, errors)
        & same_padding(&config, &args, errors)
        & outputs(&config, &args, errors);
    ok.then_some(config)
}

/// As many positional arguments as PyTorch's constructor has.
fn positional_count(window: Window, args: &Args, errors: &mut Errors) -> bool {
    let names = window.positional();
    if args.positional.len() == names.len() {
        return true;
    }
    let message = format!(
        "`{}!` takes {} positional argument{} ({}), as `{}` does; found {}",
        window.name(),
        names.len(),
        if names.len() == 1 { "" } else { "s" },
        names.join(", "),
        window.torch(),
        args.positional.len()
    );
    match args.positional.get(names.len()) {
        Some(extra) => errors.spanned(extra, message),
        None => errors.at(Span::call_site(), message),
    }
    false
}

/// `stride`, `dilation` and `padding` per axis, with PyTorch's defaults
/// (a pool's stride is its kernel size).
fn window_options(
    window: Window,
    args: &Args,
    kernel: Option<&Vec<Size>>,
    errors: &mut Errors,
) -> (Option<Vec<Size>>, Option<Vec<Size>>, Option<Pad>) {
    let rank = window.rank();
    let mut per_axis =
        |arg: Option<&crate::args::Arg<Shape>>, name: &str, default: Option<Vec<Size>>| match arg {
            Some(a) => axes(Some(&a.value), rank, name, &Some(a.tokens.clone()), errors),
            None => default,
        };
    let stride_default = match window.family() {
        Family::Conv => Some(vec![Size::known(1); rank]),
        Family::MaxPool | Family::AvgPool => kernel.cloned(),
    };
    let stride = per_axis(args.stride.as_ref(), "stride", stride_default);
    let dilation = per_axis(
        args.dilation.as_ref(),
        "dilation",
        Some(vec![Size::known(1); rank]),
    );
    let padding = match &args.padding {
        Some(arg) => match &arg.value {
            Padding::Same => Some(Pad::Same),
            Padding::Sizes(s) => {
                axes(Some(s), rank, "padding", &Some(arg.tokens.clone()), errors).map(Pad::Each)
            }
        },
        None => Some(Pad::Each(vec![Size::known(0); rank])),
    };
    (stride, dilation, padding)
}

/// A positional argument: the kernel size per axis, or a channel count.
fn positional_arg(expr: &syn::Expr, name: &str, errors: &mut Errors) -> Option<Shape> {
    let parsed = if name == "kernel_size" {
        args::shape(expr, name)
    } else {
        args::size(expr, name).map(|s| Shape {
            dims: vec![s],
            bracketed: false,
        })
    };
    parsed.map_err(|e| errors.push(e)).ok()
}

/// `input = [C, H, W]`: required, with a channel and `rank` spatial sizes.
fn input(window: Window, args: &Args, errors: &mut Errors) -> Option<Vec<Size>> {
    let Some(arg) = &args.input else {
        errors.at(
            Span::call_site(),
            format!(
                "missing `input`: the shape of one example, {}; the output shape is computed from it",
                window.input_example()
            ),
        );
        return None;
    };
    if arg.value.dims.len() != window.rank() + 1 {
        errors.spanned(
            &arg.tokens,
            format!(
                "`input` of `{}!` is the shape of one example, {}: {} sizes",
                window.name(),
                window.input_example(),
                window.rank() + 1
            ),
        );
        return None;
    }
    Some(arg.value.dims.clone())
}

/// One size per axis: a single size applies to every axis.
fn axes(
    shape: Option<&Shape>,
    rank: usize,
    name: &str,
    tokens: &Option<TokenStream>,
    errors: &mut Errors,
) -> Option<Vec<Size>> {
    let shape = shape?;
    // Padding may be zero (PyTorch's default, `padding = 0` or `valid`);
    // the other sizes must be positive.
    if name != "padding" && !positive(&shape.dims, name, errors) {
        return None;
    }
    match shape.dims.len() {
        1 => Some(vec![shape.dims[0].clone(); rank]),
        n if n == rank => Some(shape.dims.clone()),
        n => {
            let message =
                format!("`{name}` has {n} sizes; give one, or one per spatial axis ({rank})");
            match tokens {
                Some(t) => errors.spanned(t, message),
                None => errors.at(Span::call_site(), message),
            }
            None
        }
    }
}

/// Every channel count and input size at least 1 (the per-axis sizes are
/// checked as written, before they apply to every axis).
fn ranges(c: &Config, errors: &mut Errors) -> bool {
    let mut ok = positive(std::slice::from_ref(&c.c_in), "channels", errors);
    ok &= positive(std::slice::from_ref(&c.c_out), "out_channels", errors);
    ok &= positive(std::slice::from_ref(&c.groups), "groups", errors);
    ok &= positive(&c.spatial, "input", errors);
    ok
}

/// A convolution's `in_channels` is the input's, and `groups` divides both
/// channel counts.
fn channels(
    c_in: &Size,
    c_out: &Size,
    groups: &Size,
    c_in_arg: Option<&Shape>,
    args: &Args,
    errors: &mut Errors,
) -> bool {
    let mut ok = true;
    if let Some(given) = c_in_arg.map(|s| &s.dims[0])
        && let (Some(a), Some(b)) = (given.value(), c_in.value())
        && a != b
    {
        errors.spanned(
            &given.tokens,
            format!(
                "`in_channels` is {a}, but `input` gives {b} channel{}",
                if b == 1 { "" } else { "s" }
            ),
        );
        ok = false;
    }
    if let (Some(g), Some(arg)) = (groups.value().filter(|g| *g > 0), &args.groups) {
        for (what, size) in [("input channels", c_in), ("out_channels", c_out)] {
            if let Some(n) = size.value().filter(|n| n % g != 0) {
                errors.spanned(
                    &arg.tokens,
                    format!("`groups = {g}` does not divide the {n} {what}"),
                );
                ok = false;
            }
        }
    }
    ok
}

/// `padding = same` is PyTorch's, for stride 1 only.
fn same_padding(c: &Config, args: &Args, errors: &mut Errors) -> bool {
    let (Pad::Same, Some(stride)) = (&c.padding, &args.stride) else {
        return true;
    };
    if c.stride.iter().all(|s| s.value() == Some(1)) {
        return true;
    }
    errors.spanned(
        &stride.tokens,
        "`padding = same` needs `stride = 1` (PyTorch: \"padding='same' is not supported for strided convolutions\")",
    );
    false
}

/// Where every size is known: pools pad at most half the kernel, and the
/// padded input holds the dilated kernel (at least one output position).
fn outputs(c: &Config, args: &Args, errors: &mut Errors) -> bool {
    let mut ok = true;
    let span = |t: &Option<TokenStream>| t.clone().unwrap_or_else(|| quote::quote!());
    let padding_tokens = span(&args.padding.as_ref().map(|p| p.tokens.clone()));
    let input_tokens = span(&args.input.as_ref().map(|p| p.tokens.clone()));
    for axis in 0..c.spatial.len() {
        let (Some(len), Some(k), Some(d)) = (
            c.spatial[axis].value(),
            c.kernel[axis].value(),
            c.dilation[axis].value(),
        ) else {
            continue;
        };
        let pad = match &c.padding {
            Pad::Same => Some(d * k.saturating_sub(1)),
            Pad::Each(p) => p[axis].value().map(|p| 2 * p),
        };
        let Some(pad) = pad else { continue };
        if c.window.family() != Family::Conv && pad / 2 > k / 2 {
            errors.spanned(
                &padding_tokens,
                format!(
                    "pool padding must be at most half the kernel size ({}), as PyTorch requires",
                    k / 2
                ),
            );
            ok = false;
        } else if len + pad < d * (k.max(1) - 1) + 1 {
            errors.spanned(
                &input_tokens,
                format!(
                    "the kernel ({k}, dilation {d}) is larger than the padded input ({len} + {pad} padding): \
                     there is no output position"
                ),
            );
            ok = false;
        }
    }
    ok
}
