//! The types and sizes the generated items are written in.
//!
//! A size the user gave as a literal is written as that literal; one given
//! as an expression is written once, in the layer's constant (`DIMS`,
//! `SPATIAL`, `GROUPS`), and named through it everywhere else, so a typo in
//! it is one error and the generated types read `[f32; { Norm::DIMS }]`.

use crate::args::Size;
use crate::item::Target;
use crate::kind::Layout;
use crate::valid::{Config, known_product};
use proc_macro2::{Ident, Literal, TokenStream};
use quote::{format_ident, quote};

/// What every generator needs: the configuration, the user's struct, and the
/// types derived from them.
pub struct Gen<'a> {
    pub config: &'a Config,
    pub target: &'a Target,
    /// The path of the facade crate (`::constnorm`, or `crate = ...`).
    pub krate: &'a syn::Path,
    /// `#krate::__private`: what the generated code calls.
    pub private: TokenStream,
    /// The scalar type, `f32` or `f64`.
    pub t: TokenStream,
    /// One example.
    pub row: TokenStream,
    /// A parameter array: one value per feature, or one per channel.
    pub param: TokenStream,
    /// A per-channel array, for running statistics.
    pub per_channel: TokenStream,
    /// The shape of a parameter array.
    pub param_shape: Vec<TokenStream>,
    /// The number of channels (`dims[0]`).
    pub channels: TokenStream,
    /// The user's `#[cfg]` attributes, repeated on every generated item.
    pub cfgs: TokenStream,
}

impl<'a> Gen<'a> {
    pub fn new(config: &'a Config, target: &'a Target) -> Self {
        let krate = &config.krate;
        let t = {
            let t = format_ident!("{}", config.dtype.name());
            quote!(#t)
        };
        let ident = &target.ident;
        let dims: Vec<TokenStream> = (0..config.dims.len())
            .map(|i| dim(config, ident, i))
            .collect();
        let channels = dims[0].clone();
        let (row_shape, param_shape) = match config.kind.layout() {
            Layout::Features => (dims.clone(), dims),
            Layout::Channels => {
                let mut row = vec![channels.clone()];
                row.extend((0..config.spatial.len()).map(|i| spatial(config, ident, i)));
                (row, vec![channels.clone()])
            }
        };
        let cfgs = target.cfgs();
        Self {
            config,
            target,
            krate,
            private: quote!(#krate::__private),
            row: nested(&t, &row_shape),
            param: nested(&t, &param_shape),
            per_channel: quote!([#t; #channels]),
            param_shape,
            channels,
            t,
            cfgs: quote!(#(#cfgs)*),
        }
    }

    pub fn ident(&self) -> &Ident {
        &self.target.ident
    }

    /// Values per channel in one example, where the macro knows it.
    pub fn spatial_size(&self) -> Option<usize> {
        known_product(&self.config.spatial)
    }
}

/// `dims[i]`: the literal, or the constant that holds the expression.
fn dim(config: &Config, ident: &Ident, i: usize) -> TokenStream {
    named(&config.dims[i], || {
        if config.dims_bracketed {
            let i = Literal::usize_unsuffixed(i);
            quote!({ #ident::DIMS[#i] })
        } else {
            quote!({ #ident::DIMS })
        }
    })
}

/// `spatial[i]`, likewise.
fn spatial(config: &Config, ident: &Ident, i: usize) -> TokenStream {
    named(&config.spatial[i], || {
        let i = Literal::usize_unsuffixed(i);
        quote!({ #ident::SPATIAL[#i] })
    })
}

/// A size as a literal where known, else through its constant (in braces,
/// so it can also be a const generic argument).
pub fn named(size: &Size, constant: impl FnOnce() -> TokenStream) -> TokenStream {
    match size.value() {
        Some(v) => {
            let v = Literal::usize_unsuffixed(v);
            quote!(#v)
        }
        None => constant(),
    }
}

/// `[[T; B]; A]` for the shape `[A, B]`.
pub fn nested(t: &TokenStream, shape: &[TokenStream]) -> TokenStream {
    shape
        .iter()
        .rev()
        .fold(t.clone(), |inner, d| quote!([#inner; #d]))
}

/// `[a, b, c]` of the sizes as the user wrote them.
pub fn as_written(sizes: &[Size]) -> TokenStream {
    let sizes = sizes.iter().map(|s| &s.tokens);
    quote!([#(#sizes),*])
}
