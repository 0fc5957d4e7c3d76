//! Parse: `conv2d!(1, 8, 3, padding = 1, input = [1, 8, 8])` into typed
//! arguments that keep their tokens. Positional arguments come first, in
//! PyTorch's order; the rest are `name = value`.

use super::kind::{Opt, Window};
use crate::args::{self, Arg, Dtype, Shape, Size, peel, set};
use crate::errors::{Errors, unknown};
use proc_macro2::TokenStream;
use quote::ToTokens;
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::{Expr, Token};

/// `padding = 1`, `[1, 2]`, `same` or `valid`.
pub enum Padding {
    Sizes(Shape),
    /// PyTorch's `padding="same"` (stride 1): the output is as long as the
    /// input; an even dilated kernel pads one more on the right.
    Same,
}

#[derive(Default)]
pub struct Args {
    /// The positional arguments, as written.
    pub positional: Vec<Expr>,
    pub stride: Option<Arg<Shape>>,
    pub padding: Option<Arg<Padding>>,
    pub dilation: Option<Arg<Shape>>,
    pub groups: Option<Arg<Size>>,
    pub bias: Option<Arg<bool>>,
    pub ceil_mode: Option<Arg<bool>>,
    pub count_include_pad: Option<Arg<bool>>,
    pub input: Option<Arg<Shape>>,
    pub dtype: Option<Arg<Dtype>>,
    pub krate: Option<Arg<syn::Path>>,
}

pub fn parse(window: Window, tokens: TokenStream, errors: &mut Errors) -> Option<Args> {
    let exprs = match Punctuated::<Expr, Token![,]>::parse_terminated.parse2(tokens) {
        Ok(exprs) => exprs,
        Err(e) => {
            errors.push(e);
            return None;
        }
    };
    let mut args = Args::default();
    for expr in exprs {
        match expr {
            Expr::Assign(assign) => option(window, &assign, &mut args, errors),
            positional if args_are_named(&args) => errors.spanned(
                &positional,
                format!(
                    "positional arguments ({}) come before the `name = value` ones",
                    window.positional().join(", ")
                ),
            ),
            positional => args.positional.push(positional),
        }
    }
    Some(args)
}

fn args_are_named(args: &Args) -> bool {
    args.stride.is_some()
        || args.padding.is_some()
        || args.dilation.is_some()
        || args.groups.is_some()
        || args.bias.is_some()
        || args.ceil_mode.is_some()
        || args.count_include_pad.is_some()
        || args.input.is_some()
        || args.dtype.is_some()
        || args.krate.is_some()
}

fn option(window: Window, assign: &syn::ExprAssign, args: &mut Args, errors: &mut Errors) {
    let key = assign.left.to_token_stream();
    let name = match peel(&assign.left) {
        Expr::Path(p) if p.qself.is_none() => args::path_name(&p.path),
        other => {
            errors.spanned(other, "expected an argument name, such as `stride = 2`");
            return;
        }
    };
    let Some(opt) = Opt::from_name(&name) else {
        errors.spanned(&key, unknown("argument", &name, &Opt::names()));
        return;
    };
    if !window.applies(opt) {
        errors.spanned(
            &key,
            format!(
                "`{name}` does not apply to `{}!` ({})",
                window.name(),
                window.torch()
            ),
        );
        return;
    }
    let value = peel(&assign.right);
    // `put!(field, parsed)`: the option into its slot, once.
    macro_rules! put {
        ($slot:ident, $parsed:expr) => {
            set(&mut args.$slot, $parsed, key.clone(), value, &name)
        };
    }
    let result = match opt {
        Opt::Stride => put!(stride, args::shape(value, &name)),
        Opt::Dilation => put!(dilation, args::shape(value, &name)),
        Opt::Input => put!(input, args::shape(value, &name)),
        Opt::Padding => put!(padding, padding(value)),
        Opt::Groups => put!(groups, args::size(value, &name)),
        Opt::Bias => put!(bias, args::boolean(value, &name)),
        Opt::CeilMode => put!(ceil_mode, args::boolean(value, &name)),
        Opt::CountIncludePad => put!(count_include_pad, args::boolean(value, &name)),
        Opt::Dtype => put!(dtype, args::dtype(value)),
        Opt::Crate => put!(krate, args::crate_path(value)),
    };
    if let Err(e) = result {
        errors.push(e);
    }
}

fn padding(value: &Expr) -> syn::Result<Padding> {
    if let Expr::Path(p) = value {
        match p.path.get_ident().map(ToString::to_string).as_deref() {
            Some("same") => return Ok(Padding::Same),
            Some("valid") => {
                return Ok(Padding::Sizes(Shape {
                    dims: vec![Size::known(0)],
                    bracketed: false,
                }));
            }
            _ => {}
        }
    }
    if let Expr::Lit(syn::ExprLit {
        lit: syn::Lit::Str(s),
        ..
    }) = value
    {
        return Err(syn::Error::new_spanned(
            value,
            format!(
                "write the padding without quotes: `padding = {}`",
                s.value()
            ),
        ));
    }
    args::shape(value, "padding").map(Padding::Sizes)
}
