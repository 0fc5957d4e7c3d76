//! Validate: arguments in range, present when required, and meant for the
//! kind. Produces the complete configuration `expand.rs` generates from.

use crate::args::{Args, Dtype, Momentum, Shape, Size};
use crate::errors::{Errors, one_of};
use crate::kind::{Kind, Layout};
use crate::symbol::{MAX_RANK, Opt};
use proc_macro2::{Span, TokenStream};

/// PyTorch's default momentum.
const DEFAULT_MOMENTUM: f64 = 0.1;

pub struct Config {
    pub kind: Kind,
    /// The normalized shape (layer, RMS), or `[channels]`.
    pub dims: Vec<Size>,
    /// `dims` was written as an array, so the `DIMS` constant is one too.
    pub dims_bracketed: bool,
    /// Spatial dims after the channel (batch, group, instance); may be empty.
    pub spatial: Vec<Size>,
    /// Groups of channels (group norm; 1 for the others).
    pub groups: Size,
    pub eps: f64,
    /// `None`: a cumulative moving average (PyTorch's `momentum=None`).
    /// Meaningful when `track` is set.
    pub momentum: Option<f64>,
    pub affine: bool,
    pub bias: bool,
    pub track: bool,
    pub dtype: Dtype,
    pub krate: syn::Path,
}

impl Config {
    /// `dims` as written: `16`, `[4, 8]`, `HIDDEN`.
    pub fn shape_text(&self) -> String {
        if self.dims_bracketed {
            let dims: Vec<String> = self.dims.iter().map(ToString::to_string).collect();
            format!("[{}]", dims.join(", "))
        } else {
            self.dims[0].to_string()
        }
    }
}

pub fn validate(args: Args, errors: &mut Errors) -> Option<Config> {
    let kind = args.kind.as_ref().map(|k| k.value);
    if args.kind.is_none() && !args.attempted.contains(crate::args::KIND) {
        errors.at(
            Span::call_site(),
            format!(
                "missing the normalization kind: write for example `#[normalize(layer, dims = 16)]` \
                 (kinds: {})",
                one_of(&Kind::names())
            ),
        );
    }
    if let Some(kind) = kind {
        not_for_kind(&args, kind, errors);
    }
    let dims = dims(&args, kind, errors);
    let spatial = spatial(&args, kind, errors);
    let groups = groups(&args, kind, dims.as_ref(), errors);
    let eps = args.eps.as_ref().map_or(Some(None), |eps| {
        let ok = eps.value.is_finite() && eps.value > 0.0;
        if !ok {
            errors.spanned(
                &eps.tokens,
                "`eps` must be a finite number greater than 0 (PyTorch's default is 1e-5)",
            );
        }
        ok.then_some(Some(eps.value))
    });
    let affine = args
        .affine
        .as_ref()
        .map_or_else(|| kind.is_none_or(Kind::default_affine), |a| a.value);
    let track = args.track.as_ref().map_or_else(
        || kind.and_then(Kind::running_statistics).unwrap_or(false),
        |t| t.value,
    );
    let bias = bias(&args, kind, affine, errors);
    let momentum = momentum(&args, kind, track, errors);
    let dtype = args.dtype.map_or(Dtype::F32, |d| d.value);
    let kind = kind?;
    let eps = eps?.unwrap_or_else(|| kind.default_eps(dtype));
    let (dims, dims_bracketed) = dims?;
    Some(Config {
        kind,
        dims,
        dims_bracketed,
        spatial: spatial?,
        groups: groups?,
        eps,
        momentum: momentum?,
        affine,
        bias: bias?,
        track,
        dtype,
        krate: args
            .krate
            .map_or_else(|| syn::parse_quote!(::constnorm), |k| k.value),
    })
}

/// Every given option that the kind has no use for.
fn not_for_kind(args: &Args, kind: Kind, errors: &mut Errors) {
    let given: [(Opt, Option<&TokenStream>); 5] = [
        (Opt::Spatial, args.spatial.as_ref().map(|a| &a.key)),
        (Opt::Groups, args.groups.as_ref().map(|a| &a.key)),
        (Opt::Momentum, args.momentum.as_ref().map(|a| &a.key)),
        (Opt::Bias, args.bias.as_ref().map(|a| &a.key)),
        (Opt::Track, args.track.as_ref().map(|a| &a.key)),
    ];
    for (option, key) in given {
        let Some(key) = key.filter(|_| !kind.applies(option)) else {
            continue;
        };
        let kinds: Vec<&str> = Kind::ALL
            .iter()
            .filter(|k| k.applies(option))
            .map(|k| k.name())
            .collect();
        errors.spanned(
            key,
            format!(
                "`{}` does not apply to {}; it applies to {}",
                option.name(),
                kind.prose(),
                one_of(&kinds)
            ),
        );
    }
}

/// Checks that each literal size is at least 1 and fits in `usize`;
/// expressions are checked by the generated code.
pub(crate) fn positive(sizes: &[Size], name: &str, errors: &mut Errors) -> bool {
    let mut ok = true;
    for d in sizes {
        match d.literal.map(usize::try_from) {
            Some(Ok(0)) => {
                errors.spanned(&d.tokens, format!("`{name}` must be at least 1"));
                ok = false;
            }
            Some(Err(_)) => {
                errors.spanned(
                    &d.tokens,
                    format!("`{name}` is too large for this target's usize"),
                );
                ok = false;
            }
            Some(Ok(_)) | None => {}
        }
    }
    ok
}

/// The product of the sizes, where all of them are known.
pub fn known_product(sizes: &[Size]) -> Option<usize> {
    sizes.iter().map(Size::value).product()
}

/// Reports `option` missing when the kind requires it and the user did not
/// try to give it; returns whether it was required.
fn require(args: &Args, kind: Option<Kind>, option: Opt, errors: &mut Errors) -> bool {
    let Some(requirement) = kind
        .into_iter()
        .flat_map(Kind::requirements)
        .find(|r| r.option == option)
    else {
        return false;
    };
    if let Some(kind) = args
        .kind
        .as_ref()
        .filter(|_| !args.attempted.contains(option.name()))
    {
        errors.spanned(&kind.tokens, requirement.message);
    }
    true
}

fn dims(args: &Args, kind: Option<Kind>, errors: &mut Errors) -> Option<(Vec<Size>, bool)> {
    let layout = kind.map(Kind::layout);
    let Some(arg) = &args.dims else {
        if !args.attempted.contains(Opt::Dims.name()) {
            let message = match layout {
                Some(Layout::Channels) => {
                    "missing `dims`: the number of channels, for example `dims = 16`"
                }
                Some(Layout::Features) | None => {
                    "missing `dims`: the shape to normalize over, for example `dims = 16` or `dims = [4, 8]`"
                }
            };
            match &args.kind {
                Some(kind) => errors.spanned(&kind.tokens, message),
                None => errors.at(Span::call_site(), message),
            }
        }
        return None;
    };
    let shape = &arg.value;
    if shape.dims.is_empty() {
        errors.spanned(&arg.tokens, "`dims` is empty: give at least one dim");
        return None;
    }
    match (kind, layout) {
        (Some(k), Some(Layout::Channels)) if shape.bracketed => {
            errors.spanned(
                &arg.tokens,
                format!(
                    "{}'s `dims` is the number of channels, one integer such as `dims = 16`; \
                     spatial dims go in `spatial = [H, W]`",
                    k.prose()
                ),
            );
            return None;
        }
        (_, Some(Layout::Features) | None) if shape.dims.len() > MAX_RANK => {
            errors.spanned(
                &arg.tokens,
                format!(
                    "`dims` has {} dims; at most {MAX_RANK} are supported",
                    shape.dims.len()
                ),
            );
            return None;
        }
        _ => {}
    }
    positive(&shape.dims, Opt::Dims.name(), errors).then(|| (shape.dims.clone(), shape.bracketed))
}

fn spatial(args: &Args, kind: Option<Kind>, errors: &mut Errors) -> Option<Vec<Size>> {
    let Some(arg) = &args.spatial else {
        return if require(args, kind, Opt::Spatial, errors) {
            None
        } else {
            Some(Vec::new())
        };
    };
    let shape: &Shape = &arg.value;
    if shape.dims.is_empty() {
        errors.spanned(
            &arg.tokens,
            "`spatial` is empty: leave it out for no spatial dims",
        );
        return None;
    }
    if shape.dims.len() > MAX_RANK - 1 {
        errors.spanned(
            &arg.tokens,
            format!(
                "`spatial` has {} dims; at most {} are supported (as in BatchNorm3d)",
                shape.dims.len(),
                MAX_RANK - 1
            ),
        );
        return None;
    }
    if !positive(&shape.dims, Opt::Spatial.name(), errors) {
        return None;
    }
    let too_few = kind
        .and_then(Kind::min_spatial)
        .filter(|(min, _)| known_product(&shape.dims).is_some_and(|n| n < *min));
    if let Some((_, message)) = too_few {
        errors.spanned(&arg.tokens, message);
        return None;
    }
    Some(shape.dims.clone())
}

fn groups(
    args: &Args,
    kind: Option<Kind>,
    dims: Option<&(Vec<Size>, bool)>,
    errors: &mut Errors,
) -> Option<Size> {
    if !kind.is_some_and(|k| k.applies(Opt::Groups)) {
        return Some(Size::known(1));
    }
    let Some(arg) = &args.groups else {
        require(args, kind, Opt::Groups, errors);
        return None;
    };
    let groups = &arg.value;
    if !positive(std::slice::from_ref(groups), Opt::Groups.name(), errors) {
        return None;
    }
    let channels = dims.and_then(|(dims, _)| dims[0].value());
    if let (Some(g), Some(channels)) = (groups.value(), channels)
        && channels % g != 0
    {
        errors.spanned(
            &arg.tokens,
            format!(
                "`groups = {g}` does not divide the {channels} channels (`dims`) into equal groups"
            ),
        );
        return None;
    }
    Some(groups.clone())
}

fn bias(args: &Args, kind: Option<Kind>, affine: bool, errors: &mut Errors) -> Option<bool> {
    let default = kind.map_or(affine, |k| k.default_bias(affine));
    let Some(arg) = &args.bias else {
        return Some(default);
    };
    if arg.value && !affine {
        errors.spanned(
            &arg.tokens,
            format!(
                "`{} = true` needs the learned parameters: remove `{} = false`",
                Opt::Bias.name(),
                Opt::Affine.name()
            ),
        );
        return None;
    }
    Some(arg.value)
}

fn momentum(
    args: &Args,
    kind: Option<Kind>,
    track: bool,
    errors: &mut Errors,
) -> Option<Option<f64>> {
    let Some(arg) = &args.momentum else {
        return Some(Some(DEFAULT_MOMENTUM));
    };
    if !kind.is_none_or(|k| k.applies(Opt::Momentum)) {
        return None; // reported by not_for_kind
    }
    if kind.is_some() && !track {
        errors.spanned(
            &arg.key,
            format!(
                "`{}` has no effect without running statistics (`{} = false`)",
                Opt::Momentum.name(),
                Opt::Track.name()
            ),
        );
        return None;
    }
    match arg.value {
        Momentum::Cumulative => match kind.and_then(Kind::refuses_cumulative) {
            Some(message) => {
                errors.spanned(&arg.tokens, message);
                None
            }
            None => Some(None),
        },
        Momentum::Factor(m) if (0.0..=1.0).contains(&m) => Some(Some(m)),
        Momentum::Factor(_) => {
            errors.spanned(
                &arg.tokens,
                "`momentum` must be between 0 and 1 (PyTorch's default is 0.1), \
                 or `none` for a cumulative moving average",
            );
            None
        }
    }
}
