//! Parse: the attribute's tokens into typed arguments that keep their spans.
//! Only syntax is checked here; ranges and combinations are `valid.rs`'s.

use crate::errors::{Errors, did_you_mean, one_of};
use crate::symbol::{self, BATCH, CRATE, DIMS, DTYPE, EPS, LAYER, MOMENTUM};
use proc_macro2::{Span, TokenStream};
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{Expr, ExprLit, ExprUnary, Lit, Meta, Token, UnOp};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Batch,
    Layer,
}

impl Kind {
    fn from_name(name: &str) -> Option<Self> {
        match name {
            BATCH => Some(Self::Batch),
            LAYER => Some(Self::Layer),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Batch => BATCH,
            Self::Layer => LAYER,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dtype {
    F32,
    F64,
}

impl Dtype {
    pub fn name(self) -> &'static str {
        match self {
            Self::F32 => symbol::F32,
            Self::F64 => symbol::F64,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Momentum {
    Factor(f64),
    /// PyTorch's `momentum=None`: a cumulative moving average.
    Cumulative,
}

/// A parsed value with the span of its key (for "does not apply" errors) and
/// of itself (for "out of range" errors).
#[derive(Clone, Debug)]
pub struct Arg<T> {
    pub value: T,
    pub key: Span,
    pub span: Span,
}

#[derive(Default)]
pub struct Args {
    pub kind: Option<Arg<Kind>>,
    pub dims: Option<Arg<u128>>,
    pub eps: Option<Arg<f64>>,
    pub momentum: Option<Arg<Momentum>>,
    pub dtype: Option<Arg<Dtype>>,
    pub krate: Option<Arg<syn::Path>>,
}

pub fn parse(tokens: TokenStream, errors: &mut Errors) -> Args {
    let mut args = Args::default();
    let metas = match Punctuated::<Meta, Token![,]>::parse_terminated.parse2(tokens) {
        Ok(metas) => metas,
        Err(e) => {
            errors.push(e);
            return args;
        }
    };
    for meta in metas {
        match meta {
            Meta::Path(path) => parse_kind(&path, &mut args, errors),
            Meta::NameValue(nv) => parse_option(&nv, &mut args, errors),
            Meta::List(list) => errors.at(
                list.span(),
                format!(
                    "unexpected `{}(...)`: arguments are a kind ({}) and `name = value` pairs",
                    path_name(&list.path),
                    one_of(symbol::KINDS)
                ),
            ),
        }
    }
    args
}

fn path_name(path: &syn::Path) -> String {
    path.segments
        .iter()
        .map(|s| s.ident.to_string())
        .collect::<Vec<_>>()
        .join("::")
}

fn parse_kind(path: &syn::Path, args: &mut Args, errors: &mut Errors) {
    let name = path_name(path);
    let span = path.span();
    if symbol::OPTIONS.contains(&name.as_str()) {
        errors.at(span, format!("`{name}` needs a value, for example `{}`", example(&name)));
        return;
    }
    let Some(kind) = Kind::from_name(&name) else {
        errors.at(
            span,
            format!(
                "unknown normalization kind `{name}`{}; expected {}",
                did_you_mean(&name, symbol::KINDS),
                one_of(symbol::KINDS)
            ),
        );
        return;
    };
    match &args.kind {
        Some(first) => errors.at(
            span,
            format!(
                "a layer has one kind, and it is already given as `{}`",
                first.value.name()
            ),
        ),
        None => args.kind = Some(Arg { value: kind, key: span, span }),
    }
}

fn example(option: &str) -> &'static str {
    match option {
        DIMS => "`dims = 16`",
        EPS => "`eps = 1e-5`",
        MOMENTUM => "`momentum = 0.1` or `momentum = none`",
        DTYPE => "`dtype = f64`",
        _ => "`crate = ::constnorm`",
    }
}

fn parse_option(nv: &syn::MetaNameValue, args: &mut Args, errors: &mut Errors) {
    let name = path_name(&nv.path);
    let key = nv.path.span();
    let value = peel(&nv.value);
    let span = value.span();
    let result = match name.as_str() {
        DIMS => set(&mut args.dims, integer(value, DIMS), key, span, DIMS),
        EPS => set(&mut args.eps, number(value, EPS), key, span, EPS),
        MOMENTUM => set(&mut args.momentum, momentum(value), key, span, MOMENTUM),
        DTYPE => set(&mut args.dtype, dtype(value), key, span, DTYPE),
        CRATE => set(&mut args.krate, crate_path(value), key, span, CRATE),
        _ => Err(syn::Error::new(
            key,
            format!(
                "unknown argument `{name}`{}; expected {}",
                did_you_mean(&name, symbol::OPTIONS),
                one_of(symbol::OPTIONS)
            ),
        )),
    };
    if let Err(e) = result {
        errors.push(e);
    }
}

fn set<T>(
    slot: &mut Option<Arg<T>>,
    value: syn::Result<T>,
    key: Span,
    span: Span,
    name: &str,
) -> syn::Result<()> {
    if slot.is_some() {
        return Err(syn::Error::new(key, format!("duplicate argument `{name}`")));
    }
    *slot = Some(Arg {
        value: value?,
        key,
        span,
    });
    Ok(())
}

/// Looks through the invisible groups and parentheses that `macro_rules!`
/// fragments and users wrap values in.
fn peel(value: &Expr) -> &Expr {
    match value {
        Expr::Group(g) => peel(&g.expr),
        Expr::Paren(p) => peel(&p.expr),
        other => other,
    }
}

fn integer(value: &Expr, name: &str) -> syn::Result<u128> {
    match value {
        Expr::Lit(ExprLit {
            lit: Lit::Int(int), ..
        }) => int.base10_parse::<u128>(),
        Expr::Unary(ExprUnary {
            op: UnOp::Neg(_), ..
        }) => Err(syn::Error::new(
            value.span(),
            format!("`{name}` must be at least 1"),
        )),
        _ => Err(syn::Error::new(
            value.span(),
            format!(
                "`{name}` must be an integer literal such as `{name} = 16` \
                 (the macro sees tokens, not the values of constants)"
            ),
        )),
    }
}

fn number(value: &Expr, name: &str) -> syn::Result<f64> {
    let literal = |lit: &Lit| match lit {
        Lit::Float(f) => f.base10_parse::<f64>(),
        Lit::Int(i) => i.base10_parse::<f64>(),
        _ => Err(syn::Error::new(lit.span(), "")),
    };
    let parsed = match value {
        Expr::Lit(ExprLit { lit, .. }) => literal(lit),
        Expr::Unary(ExprUnary {
            op: UnOp::Neg(_),
            expr,
            ..
        }) => match peel(expr) {
            Expr::Lit(ExprLit { lit, .. }) => literal(lit).map(|v| -v),
            _ => Err(syn::Error::new(value.span(), "")),
        },
        _ => Err(syn::Error::new(value.span(), "")),
    };
    parsed.map_err(|_| {
        syn::Error::new(
            value.span(),
            format!("`{name}` must be a number literal, for example {}", example(name)),
        )
    })
}

fn single_ident(value: &Expr) -> Option<String> {
    match value {
        Expr::Path(p) if p.qself.is_none() => p.path.get_ident().map(ToString::to_string),
        _ => None,
    }
}

fn momentum(value: &Expr) -> syn::Result<Momentum> {
    match single_ident(value).as_deref() {
        Some(symbol::NONE | symbol::NONE_PYTHON) => Ok(Momentum::Cumulative),
        Some(other) => Err(syn::Error::new(
            value.span(),
            format!(
                "unknown momentum `{other}`{}; expected a number in [0, 1] or `none` \
                 (a cumulative moving average, PyTorch's momentum=None)",
                did_you_mean(other, &[symbol::NONE])
            ),
        )),
        None => number(value, MOMENTUM).map(Momentum::Factor),
    }
}

fn dtype(value: &Expr) -> syn::Result<Dtype> {
    let found = match value {
        Expr::Lit(ExprLit {
            lit: Lit::Str(s), ..
        }) => {
            return Err(syn::Error::new(
                value.span(),
                format!("write the type without quotes: `dtype = {}`", s.value()),
            ));
        }
        _ => single_ident(value),
    };
    match found.as_deref() {
        Some(symbol::F32) => Ok(Dtype::F32),
        Some(symbol::F64) => Ok(Dtype::F64),
        other => Err(syn::Error::new(
            value.span(),
            format!(
                "unsupported dtype{}{}; expected {}",
                other.map_or_else(String::new, |o| format!(" `{o}`")),
                other.map_or_else(String::new, |o| did_you_mean(o, symbol::DTYPES)),
                one_of(symbol::DTYPES)
            ),
        )),
    }
}

fn crate_path(value: &Expr) -> syn::Result<syn::Path> {
    match value {
        Expr::Path(p) if p.qself.is_none() => Ok(p.path.clone()),
        Expr::Lit(ExprLit {
            lit: Lit::Str(s), ..
        }) => s.parse::<syn::Path>(),
        _ => Err(syn::Error::new(
            value.span(),
            "`crate` must be a path to the constnorm crate, for example `crate = ::my_reexport::constnorm`",
        )),
    }
}
