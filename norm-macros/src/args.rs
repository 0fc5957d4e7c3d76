//! Parse: the attribute's tokens into typed arguments that keep their tokens
//! for error spans. Only syntax is checked here; ranges and combinations are
//! `valid.rs`'s.

use crate::errors::{Errors, one_of, suggest, unknown};
use crate::kind::Kind;
pub use crate::symbol::Dtype;
use crate::symbol::{self, Opt};
use proc_macro2::TokenStream;
use quote::ToTokens;
use std::collections::BTreeSet;
use std::fmt;
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::{Expr, ExprLit, ExprUnary, Lit, Meta, Token, UnOp};

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Momentum {
    Factor(f64),
    /// PyTorch's `momentum=None`: a cumulative moving average.
    Cumulative,
}

/// A parsed value with the tokens of its key (for "does not apply" errors)
/// and of itself (for "out of range" errors).
#[derive(Clone, Debug)]
pub struct Arg<T> {
    pub value: T,
    pub key: TokenStream,
    pub tokens: TokenStream,
}

/// A size as written: an integer literal, whose value the macro checks, or
/// a const expression (`HIDDEN`, `2 * D`), which the generated code checks
/// with const assertions.
#[derive(Clone, Debug)]
pub struct Size {
    /// The literal's value; `None` for an expression.
    pub literal: Option<u128>,
    pub tokens: TokenStream,
}

impl Size {
    /// A size the macro itself chose.
    pub fn known(value: usize) -> Self {
        Self {
            literal: Some(value as u128),
            tokens: proc_macro2::Literal::usize_unsuffixed(value).into_token_stream(),
        }
    }

    /// The value, where the macro knows it (validation has checked that a
    /// literal fits in `usize`).
    pub fn value(&self) -> Option<usize> {
        self.literal.and_then(|v| usize::try_from(v).ok())
    }
}

/// The value where known, else the expression as written.
impl fmt::Display for Size {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.literal {
            Some(v) => write!(f, "{v}"),
            None => write!(f, "{}", self.tokens),
        }
    }
}

/// `dims = 16` or `dims = [4, 8]` (and likewise `spatial`): each size, and
/// whether it was written as an array.
#[derive(Clone, Debug)]
pub struct Shape {
    pub dims: Vec<Size>,
    pub bracketed: bool,
}

#[derive(Default)]
pub struct Args {
    pub kind: Option<Arg<Kind>>,
    pub dims: Option<Arg<Shape>>,
    pub spatial: Option<Arg<Shape>>,
    pub groups: Option<Arg<Size>>,
    pub affine: Option<Arg<bool>>,
    pub bias: Option<Arg<bool>>,
    pub track: Option<Arg<bool>>,
    pub eps: Option<Arg<f64>>,
    pub momentum: Option<Arg<Momentum>>,
    pub dtype: Option<Arg<Dtype>>,
    pub krate: Option<Arg<syn::Path>>,
    /// What the user tried to give, even where it did not parse (a misspelled
    /// kind, `dims = 3.0`): validation then reports no "missing" error on top.
    pub attempted: BTreeSet<&'static str>,
}

/// The name `attempted` records a kind under.
pub const KIND: &str = "kind";

pub fn parse(tokens: TokenStream, errors: &mut Errors) -> Args {
    let mut args = Args::default();
    let metas = match Punctuated::<Meta, Token![,]>::parse_terminated.parse2(tokens) {
        Ok(metas) => metas,
        Err(e) => {
            errors.push(e);
            // Nothing parsed: the syntax error is the only one worth showing.
            args.attempted.extend([KIND, Opt::Dims.name()]);
            return args;
        }
    };
    for meta in metas {
        match meta {
            Meta::Path(path) => parse_kind(&path, &mut args, errors),
            Meta::NameValue(nv) => parse_option(&nv, &mut args, errors),
            Meta::List(list) => {
                let name = path_name(&list.path);
                if let Some(option) = attempted_option(&name) {
                    args.attempted.insert(option.name());
                }
                errors.spanned(
                    &list,
                    format!(
                        "unexpected `{name}(...)`: arguments are a kind ({}) and `name = value` pairs{}",
                        one_of(&Kind::names()),
                        attempted_option(&name)
                            .map_or_else(String::new, |o| format!(", for example {}", o.example()))
                    ),
                );
            }
        }
    }
    args
}

pub(crate) fn path_name(path: &syn::Path) -> String {
    path.segments
        .iter()
        .map(|s| s.ident.to_string())
        .collect::<Vec<_>>()
        .join("::")
}

/// The option a key names or most likely means.
fn attempted_option(name: &str) -> Option<Opt> {
    Opt::from_name(name).or_else(|| suggest(name, &Opt::names()).and_then(Opt::from_name))
}

fn parse_kind(path: &syn::Path, args: &mut Args, errors: &mut Errors) {
    let name = path_name(path);
    if let Some(option) = Opt::from_name(&name) {
        args.attempted.insert(option.name());
        errors.spanned(
            path,
            format!("`{name}` needs a value, for example {}", option.example()),
        );
        return;
    }
    args.attempted.insert(KIND);
    let Some(kind) = Kind::from_name(&name) else {
        errors.spanned(path, unknown("normalization kind", &name, &Kind::names()));
        return;
    };
    match &args.kind {
        Some(first) => errors.spanned(
            path,
            format!(
                "a layer has one kind, and it is already given as `{}`",
                first.value.name()
            ),
        ),
        None => {
            args.kind = Some(Arg {
                value: kind,
                key: path.to_token_stream(),
                tokens: path.to_token_stream(),
            });
        }
    }
}

fn parse_option(nv: &syn::MetaNameValue, args: &mut Args, errors: &mut Errors) {
    let name = path_name(&nv.path);
    if let Some(option) = attempted_option(&name) {
        args.attempted.insert(option.name());
    }
    let key = nv.path.to_token_stream();
    let value = peel(&nv.value);
    let Some(option) = Opt::from_name(&name) else {
        errors.spanned(&nv.path, unknown("argument", &name, &Opt::names()));
        return;
    };
    let name = option.name();
    let result = match option {
        Opt::Dims => set(&mut args.dims, shape(value, name), key, value, name),
        Opt::Spatial => set(&mut args.spatial, shape(value, name), key, value, name),
        Opt::Groups => set(&mut args.groups, size(value, name), key, value, name),
        Opt::Affine => set(&mut args.affine, boolean(value, name), key, value, name),
        Opt::Bias => set(&mut args.bias, boolean(value, name), key, value, name),
        Opt::Track => set(&mut args.track, boolean(value, name), key, value, name),
        Opt::Eps => set(&mut args.eps, number(value, option), key, value, name),
        Opt::Momentum => set(&mut args.momentum, momentum(value), key, value, name),
        Opt::Dtype => set(&mut args.dtype, dtype(value), key, value, name),
        Opt::Crate => set(&mut args.krate, crate_path(value), key, value, name),
    };
    if let Err(e) = result {
        errors.push(e);
    }
}

pub(crate) fn set<T>(
    slot: &mut Option<Arg<T>>,
    value: syn::Result<T>,
    key: TokenStream,
    tokens: &Expr,
    name: &str,
) -> syn::Result<()> {
    if slot.is_some() {
        return Err(syn::Error::new_spanned(
            key,
            format!("duplicate argument `{name}`"),
        ));
    }
    *slot = Some(Arg {
        value: value?,
        key,
        tokens: tokens.to_token_stream(),
    });
    Ok(())
}

/// Looks through the invisible groups and parentheses that `macro_rules!`
/// fragments and users wrap values in.
pub(crate) fn peel(value: &Expr) -> &Expr {
    match value {
        Expr::Group(g) => peel(&g.expr),
        Expr::Paren(p) => peel(&p.expr),
        other => other,
    }
}

/// A size: an integer literal, or a const expression left to the compiler.
pub(crate) fn size(value: &Expr, name: &str) -> syn::Result<Size> {
    let negative = || syn::Error::new_spanned(value, format!("`{name}` must be at least 1"));
    let expression = Size {
        literal: None,
        tokens: value.to_token_stream(),
    };
    match value {
        // A literal or expression passed through a `macro_rules!` fragment
        // (`$n:literal`, `$n:expr`) arrives in an invisible group.
        Expr::Group(group) => size(&group.expr, name),
        // syn folds a leading minus into the literal in attribute arguments
        Expr::Lit(ExprLit {
            lit: Lit::Int(int), ..
        }) if int.base10_digits().starts_with('-') => Err(negative()),
        Expr::Lit(ExprLit {
            lit: Lit::Int(int), ..
        }) => Ok(Size {
            literal: Some(int.base10_parse::<u128>()?),
            tokens: value.to_token_stream(),
        }),
        Expr::Unary(ExprUnary {
            op: UnOp::Neg(_), ..
        }) => Err(negative()),
        Expr::Path(_)
        | Expr::Binary(_)
        | Expr::Call(_)
        | Expr::MethodCall(_)
        | Expr::Block(_)
        | Expr::Const(_)
        | Expr::Macro(_)
        | Expr::Index(_)
        | Expr::Field(_)
        | Expr::Cast(_)
        | Expr::If(_) => Ok(expression),
        _ => Err(syn::Error::new_spanned(
            value,
            format!(
                "`{name}` must be an integer: a literal such as `{name} = 16`, a constant \
                 such as `{name} = HIDDEN`, or a const expression such as `{name} = 2 * D`"
            ),
        )),
    }
}

/// One size, or an array of them.
pub(crate) fn shape(value: &Expr, name: &str) -> syn::Result<Shape> {
    match value {
        Expr::Array(array) => {
            let mut dims = Vec::new();
            let mut errors: Option<syn::Error> = None;
            for elem in &array.elems {
                match size(peel(elem), name) {
                    Ok(d) => dims.push(d),
                    Err(e) => match &mut errors {
                        Some(all) => all.combine(e),
                        None => errors = Some(e),
                    },
                }
            }
            errors.map_or(
                Ok(Shape {
                    dims,
                    bracketed: true,
                }),
                Err,
            )
        }
        other => size(other, name).map(|d| Shape {
            dims: vec![d],
            bracketed: false,
        }),
    }
}

pub(crate) fn boolean(value: &Expr, name: &str) -> syn::Result<bool> {
    match value {
        Expr::Lit(ExprLit {
            lit: Lit::Bool(b), ..
        }) => Ok(b.value),
        _ => Err(syn::Error::new_spanned(
            value,
            format!("`{name}` must be `true` or `false`"),
        )),
    }
}

fn number(value: &Expr, option: Opt) -> syn::Result<f64> {
    let name = option.name();
    let literal = |lit: &Lit| match lit {
        Lit::Float(f) => f.base10_parse::<f64>().ok(),
        Lit::Int(i) => i.base10_parse::<f64>().ok(),
        _ => None,
    };
    let parsed = match value {
        Expr::Lit(ExprLit { lit, .. }) => literal(lit),
        Expr::Unary(ExprUnary {
            op: UnOp::Neg(_),
            expr,
            ..
        }) => match peel(expr) {
            Expr::Lit(ExprLit { lit, .. }) => literal(lit).map(|v| -v),
            _ => None,
        },
        _ => None,
    };
    parsed.ok_or_else(|| {
        syn::Error::new_spanned(
            value,
            format!(
                "`{name}` must be a number literal, for example {}",
                option.example()
            ),
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
        Some(other) => Err(syn::Error::new_spanned(
            value,
            match suggest(other, &[symbol::NONE]) {
                Some(none) => format!("unknown momentum `{other}`: did you mean `{none}`?"),
                None => format!(
                    "unknown momentum `{other}`: expected a number in [0, 1], or `none` for a \
                     cumulative moving average (PyTorch's momentum=None)"
                ),
            },
        )),
        None => number(value, Opt::Momentum).map(Momentum::Factor),
    }
}

pub(crate) fn dtype(value: &Expr) -> syn::Result<Dtype> {
    if let Expr::Lit(ExprLit {
        lit: Lit::Str(s), ..
    }) = value
    {
        return Err(syn::Error::new_spanned(
            value,
            format!("write the type without quotes: `dtype = {}`", s.value()),
        ));
    }
    match single_ident(value).as_deref() {
        Some(symbol::F32) => Ok(Dtype::F32),
        Some(symbol::F64) => Ok(Dtype::F64),
        Some(other) => Err(syn::Error::new_spanned(
            value,
            unknown("dtype", other, symbol::DTYPES),
        )),
        None => Err(syn::Error::new_spanned(
            value,
            format!("`dtype` must be {}", one_of(symbol::DTYPES)),
        )),
    }
}

/// A `crate = ...` value: a path, or a string holding one (also used by
/// `#[network]`).
pub(crate) fn crate_path(value: &Expr) -> syn::Result<syn::Path> {
    match value {
        Expr::Path(p) if p.qself.is_none() => Ok(p.path.clone()),
        Expr::Lit(ExprLit {
            lit: Lit::Str(s), ..
        }) => s.parse::<syn::Path>(),
        _ => Err(syn::Error::new_spanned(
            value,
            "`crate` must be a path to the constnorm crate, for example `crate = ::my_reexport::constnorm`",
        )),
    }
}
