//! Validate: arguments in range, present when required, and meant for the
//! kind. Produces the complete configuration `expand.rs` generates from.

use crate::args::{Arg, Args, Dtype, Kind, Momentum};
use crate::errors::Errors;
use crate::symbol::{self, MOMENTUM};
use proc_macro2::Span;

/// PyTorch's defaults.
const DEFAULT_EPS: f64 = 1e-5;
const DEFAULT_MOMENTUM: f64 = 0.1;

pub struct Config {
    pub kind: Kind,
    pub dims: usize,
    pub eps: f64,
    /// `None`: a cumulative moving average (PyTorch's `momentum=None`).
    /// Meaningful for batch norm only.
    pub momentum: Option<f64>,
    pub dtype: Dtype,
    pub krate: syn::Path,
}

pub fn validate(args: Args, errors: &mut Errors) -> Option<Config> {
    let kind = args.kind.as_ref().map(|k| k.value);
    if args.kind.is_none() && !args.attempted.contains(crate::args::KIND) {
        errors.at(
            Span::call_site(),
            format!(
                "missing the normalization kind: write `#[normalize(batch, dims = N)]` \
                 or `#[normalize(layer, dims = N)]` (kinds: {})",
                crate::errors::one_of(symbol::KINDS)
            ),
        );
    }
    let dims = dims(&args, errors);
    let eps = args.eps.as_ref().map_or(Some(DEFAULT_EPS), |eps| {
        let ok = eps.value.is_finite() && eps.value > 0.0;
        if !ok {
            errors.spanned(
                &eps.tokens,
                "`eps` must be a finite number greater than 0 (PyTorch's default is 1e-5)",
            );
        }
        ok.then_some(eps.value)
    });
    let momentum = momentum(args.momentum.as_ref(), kind, errors);
    let config = Config {
        kind: kind?,
        dims: dims?,
        eps: eps?,
        momentum: momentum?,
        dtype: args.dtype.map_or(Dtype::F32, |d| d.value),
        krate: args
            .krate
            .map_or_else(|| syn::parse_quote!(::constnorm), |k| k.value),
    };
    Some(config)
}

fn dims(args: &Args, errors: &mut Errors) -> Option<usize> {
    let Some(dims) = &args.dims else {
        if !args.attempted.contains(symbol::DIMS) {
            let message =
                "missing `dims`: the number of features to normalize, for example `dims = 16`";
            match &args.kind {
                Some(kind) => errors.spanned(&kind.tokens, message),
                None => errors.at(Span::call_site(), message),
            }
        }
        return None;
    };
    match usize::try_from(dims.value) {
        Ok(0) => errors.spanned(&dims.tokens, "`dims` must be at least 1"),
        Ok(n) => return Some(n),
        Err(_) => errors.spanned(&dims.tokens, "`dims` is too large for this target's usize"),
    }
    None
}

fn momentum(
    momentum: Option<&Arg<Momentum>>,
    kind: Option<Kind>,
    errors: &mut Errors,
) -> Option<Option<f64>> {
    let Some(arg) = momentum else {
        return Some(Some(DEFAULT_MOMENTUM));
    };
    if kind == Some(Kind::Layer) {
        errors.spanned(
            &arg.key,
            format!(
                "`{MOMENTUM}` does not apply to layer norm: only batch norm keeps running statistics"
            ),
        );
        return None;
    }
    match arg.value {
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
