//! Validate: arguments in range, present when required, and meant for the
//! kind. Produces the complete configuration `expand.rs` generates from.

use crate::args::{Args, Dtype, Kind, Momentum, Shape};
use crate::errors::{Errors, one_of};
use crate::symbol::{self, AFFINE, BIAS, DIMS, GROUPS, MAX_RANK, MOMENTUM, SPATIAL, TRACK};
use proc_macro2::{Span, TokenStream};

/// PyTorch's defaults.
const DEFAULT_EPS: f64 = 1e-5;
const DEFAULT_MOMENTUM: f64 = 0.1;

pub struct Config {
    pub kind: Kind,
    /// The normalized shape (layer, RMS), or `[channels]`.
    pub dims: Vec<usize>,
    /// `dims` was written as an array, so the `DIMS` constant is one too.
    pub dims_bracketed: bool,
    /// Spatial dims after the channel (batch, group, instance); may be empty.
    pub spatial: Vec<usize>,
    /// Groups of channels (group norm).
    pub groups: usize,
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
    /// Values per channel: the product of the spatial dims (1 without).
    pub fn spatial_size(&self) -> usize {
        self.spatial.iter().product()
    }

    /// The number of channels of a channel kind.
    pub fn channels(&self) -> usize {
        self.dims[0]
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
                one_of(symbol::KINDS)
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
        .map_or(kind != Some(Kind::Instance), |a| a.value);
    let track = args
        .track
        .as_ref()
        .map_or(kind == Some(Kind::Batch), |t| t.value);
    let bias = bias(&args, kind, affine, errors);
    let momentum = momentum(&args, kind, track, errors);
    let dtype = args.dtype.map_or(Dtype::F32, |d| d.value);
    let kind = kind?;
    let eps = eps?.unwrap_or(match (kind, dtype) {
        // PyTorch's RMSNorm: eps=None is the dtype's machine epsilon.
        (Kind::Rms, Dtype::F32) => f64::from(f32::EPSILON),
        (Kind::Rms, Dtype::F64) => f64::EPSILON,
        _ => DEFAULT_EPS,
    });
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
    let given: [(&str, Option<&TokenStream>); 5] = [
        (SPATIAL, args.spatial.as_ref().map(|a| &a.key)),
        (GROUPS, args.groups.as_ref().map(|a| &a.key)),
        (MOMENTUM, args.momentum.as_ref().map(|a| &a.key)),
        (BIAS, args.bias.as_ref().map(|a| &a.key)),
        (TRACK, args.track.as_ref().map(|a| &a.key)),
    ];
    for (option, key) in given {
        let Some(key) = key else { continue };
        let Some((_, kinds)) = symbol::APPLIES_TO.iter().find(|(o, _)| *o == option) else {
            continue;
        };
        if !kinds.contains(&kind.name()) {
            errors.spanned(
                key,
                format!(
                    "`{option}` does not apply to {}; it applies to {}",
                    kind.prose(),
                    one_of(kinds)
                ),
            );
        }
    }
}

/// A list of dims, each at least 1.
fn positive(shape: &Shape, name: &str, errors: &mut Errors) -> Option<Vec<usize>> {
    let mut out = Vec::new();
    let mut ok = true;
    for d in &shape.dims {
        match usize::try_from(d.value) {
            Ok(0) => {
                errors.spanned(&d.tokens, format!("`{name}` must be at least 1"));
                ok = false;
            }
            Ok(n) => out.push(n),
            Err(_) => {
                errors.spanned(
                    &d.tokens,
                    format!("`{name}` is too large for this target's usize"),
                );
                ok = false;
            }
        }
    }
    ok.then_some(out)
}

fn dims(args: &Args, kind: Option<Kind>, errors: &mut Errors) -> Option<(Vec<usize>, bool)> {
    let Some(arg) = &args.dims else {
        if !args.attempted.contains(DIMS) {
            let message = match kind {
                Some(k) if k.has_channels() => {
                    "missing `dims`: the number of channels, for example `dims = 16`"
                }
                _ => {
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
    if let Some(k) = kind.filter(|k| k.has_channels()) {
        if shape.bracketed {
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
    } else if shape.dims.len() > MAX_RANK {
        errors.spanned(
            &arg.tokens,
            format!(
                "`dims` has {} dims; at most {MAX_RANK} are supported",
                shape.dims.len()
            ),
        );
        return None;
    }
    positive(shape, DIMS, errors).map(|d| (d, shape.bracketed))
}

fn spatial(args: &Args, kind: Option<Kind>, errors: &mut Errors) -> Option<Vec<usize>> {
    let Some(arg) = &args.spatial else {
        if kind == Some(Kind::Instance) && !args.attempted.contains(SPATIAL) {
            let message = "missing `spatial`: instance norm normalizes each channel over its \
                           spatial positions, for example `spatial = 32` or `spatial = [8, 8]`";
            if let Some(kind) = &args.kind {
                errors.spanned(&kind.tokens, message);
            }
            return None;
        }
        return Some(Vec::new());
    };
    let shape = &arg.value;
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
    let spatial = positive(shape, SPATIAL, errors)?;
    if kind == Some(Kind::Instance) && spatial.iter().product::<usize>() < 2 {
        errors.spanned(
            &arg.tokens,
            "instance norm needs more than 1 spatial position per channel: one value has no variance \
             (PyTorch: \"Expected more than 1 spatial element when training\")",
        );
        return None;
    }
    Some(spatial)
}

fn groups(
    args: &Args,
    kind: Option<Kind>,
    dims: Option<&(Vec<usize>, bool)>,
    errors: &mut Errors,
) -> Option<usize> {
    if kind != Some(Kind::Group) {
        return Some(1);
    }
    let Some(arg) = &args.groups else {
        if let Some(kind) = args
            .kind
            .as_ref()
            .filter(|_| !args.attempted.contains(GROUPS))
        {
            errors.spanned(
                &kind.tokens,
                "missing `groups`: the number of groups to split the channels into, for example `groups = 4`",
            );
        }
        return None;
    };
    let groups = match usize::try_from(arg.value) {
        Ok(0) => {
            errors.spanned(&arg.tokens, "`groups` must be at least 1");
            return None;
        }
        Ok(g) => g,
        Err(_) => {
            errors.spanned(&arg.tokens, "`groups` is too large for this target's usize");
            return None;
        }
    };
    if let Some((dims, _)) = dims {
        let channels = dims[0];
        if channels % groups != 0 {
            errors.spanned(
                &arg.tokens,
                format!("`groups = {groups}` does not divide the {channels} channels (`dims`) into equal groups"),
            );
            return None;
        }
    }
    Some(groups)
}

fn bias(args: &Args, kind: Option<Kind>, affine: bool, errors: &mut Errors) -> Option<bool> {
    // PyTorch's RMSNorm has no bias; LayerNorm has one by default.
    let default = affine && kind != Some(Kind::Rms);
    let Some(arg) = &args.bias else {
        return Some(default);
    };
    if arg.value && !affine {
        errors.spanned(
            &arg.tokens,
            format!("`{BIAS} = true` needs the learned parameters: remove `{AFFINE} = false`"),
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
    let applies = kind.is_none_or(|k| matches!(k, Kind::Batch | Kind::Instance));
    if !applies {
        return None; // reported by not_for_kind
    }
    if kind.is_some() && !track {
        errors.spanned(
            &arg.key,
            format!("`{MOMENTUM}` has no effect without running statistics (`{TRACK} = false`)"),
        );
        return None;
    }
    match arg.value {
        Momentum::Cumulative if kind == Some(Kind::Instance) => {
            errors.spanned(
                &arg.tokens,
                "instance norm has no cumulative average: PyTorch passes momentum=None as 0, \
                 which freezes the running statistics; give a number in [0, 1]",
            );
            None
        }
        Momentum::Cumulative => Some(None),
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
