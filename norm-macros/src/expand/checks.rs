//! Sizes given as expressions (`dims = HIDDEN`) are only known to the
//! compiler, so the checks the macro makes on literals become const
//! assertions here, with the same messages, spanned at the argument. Literal
//! sizes were checked by `valid.rs` and get none.

use super::layout::Gen;
use crate::args::Size;
use crate::kind::Layout;
use crate::symbol::Opt;
use proc_macro2::{Literal, TokenStream};
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;

pub fn size_checks(g: &Gen<'_>) -> TokenStream {
    let c = g.config;
    let ident = g.ident();
    let mut checks = Vec::new();
    for (i, d) in c.dims.iter().enumerate() {
        let constant = if c.dims_bracketed {
            let i = Literal::usize_unsuffixed(i);
            quote!(#ident::DIMS[#i])
        } else {
            quote!(#ident::DIMS)
        };
        checks.extend(at_least_one(d, &constant, Opt::Dims));
    }
    for (i, s) in c.spatial.iter().enumerate() {
        let i = Literal::usize_unsuffixed(i);
        checks.extend(at_least_one(s, &quote!(#ident::SPATIAL[#i]), Opt::Spatial));
    }
    if c.kind.applies(Opt::Groups) {
        checks.extend(at_least_one(
            &c.groups,
            &quote!(#ident::GROUPS),
            Opt::Groups,
        ));
        checks.extend(groups_divide(g));
    }
    checks.extend(enough_positions(g));
    let cfgs = &g.cfgs;
    checks
        .into_iter()
        .map(|check| quote!(#cfgs const _: () = #check;))
        .collect()
}

fn at_least_one(size: &Size, constant: &TokenStream, option: Opt) -> Option<TokenStream> {
    if size.literal.is_some() {
        return None;
    }
    let message = format!("`{}` must be at least 1", option.name());
    Some(quote_spanned!(size.tokens.span()=> ::core::assert!(#constant >= 1, #message)))
}

/// `groups` divides the channels (a zero `groups` is the other check's).
fn groups_divide(g: &Gen<'_>) -> Option<TokenStream> {
    let c = g.config;
    let (groups, channels) = (&c.groups, &c.dims[0]);
    if groups.literal.is_some() && channels.literal.is_some() {
        return None;
    }
    let ident = g.ident();
    let message = format!(
        "`groups = {groups}` does not divide the {channels} channels (`dims`) into equal groups"
    );
    Some(quote_spanned! {groups.tokens.span()=>
        ::core::assert!(#ident::DIMS.is_multiple_of(#ident::GROUPS) || #ident::GROUPS == 0, #message)
    })
}

/// The kind's fewest spatial positions per channel (instance norm: 2).
fn enough_positions(g: &Gen<'_>) -> Option<TokenStream> {
    let c = g.config;
    if c.kind.layout() != Layout::Channels || c.spatial.iter().all(|s| s.literal.is_some()) {
        return None;
    }
    let (min, message) = c.kind.min_spatial()?;
    let min = Literal::usize_unsuffixed(min);
    let ident = g.ident();
    let span = c
        .spatial
        .iter()
        .find(|s| s.literal.is_none())?
        .tokens
        .span();
    Some(quote_spanned!(span=> ::core::assert!(#ident::SPATIAL_SIZE >= #min, #message)))
}
