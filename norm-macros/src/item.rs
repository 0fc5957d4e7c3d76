//! Parse: the annotated item, which must be a plain unit struct.

use crate::errors::Errors;
use crate::symbol::GENERATED_TRAITS;
use proc_macro2::TokenStream;
use quote::{ToTokens, quote};
use syn::punctuated::Punctuated;
use syn::{Attribute, Fields, Ident, Item, Token, Visibility};

const USAGE: &str = "`#[normalize]` goes on a unit struct such as `pub struct TokenNorm;`, and generates its fields";

/// The parts of the user's struct the layer keeps.
pub struct Target {
    pub attrs: Vec<Attribute>,
    pub vis: Visibility,
    pub ident: Ident,
}

impl Target {
    /// The user's `#[cfg(...)]` attributes, which every generated impl must
    /// repeat so that it disappears with the struct.
    pub fn cfgs(&self) -> impl Iterator<Item = &Attribute> {
        self.attrs.iter().filter(|a| a.path().is_ident("cfg"))
    }
}

pub fn parse(tokens: TokenStream, errors: &mut Errors) -> Option<Target> {
    let item = match syn::parse2::<Item>(tokens) {
        Ok(item) => item,
        Err(e) => {
            errors.push(e);
            return None;
        }
    };
    let strukt = match item {
        Item::Struct(s) => s,
        Item::Enum(e) => {
            let (token, ident) = (e.enum_token, e.ident);
            errors.spanned(quote!(#token #ident), format!("{USAGE}, not on an enum"));
            return None;
        }
        Item::Fn(f) => {
            errors.spanned(&f.sig.ident, format!("{USAGE}, not on a function"));
            return None;
        }
        other => {
            errors.spanned(&other, USAGE);
            return None;
        }
    };
    let mut ok = true;
    if !strukt.generics.params.is_empty() || strukt.generics.where_clause.is_some() {
        errors.spanned(
            &strukt.generics,
            "a `#[normalize]` layer cannot be generic: the attribute fixes its size and dtype",
        );
        ok = false;
    }
    if !matches!(strukt.fields, Fields::Unit) {
        errors.spanned(
            &strukt.fields,
            format!(
                "{USAGE}: remove these fields (the layer gets `weight`, `bias` and, for batch norm, \
                 `running_mean`, `running_var` and `num_batches_tracked`)"
            ),
        );
        ok = false;
    }
    for attr in &strukt.attrs {
        ok &= check_derive(attr, errors);
    }
    ok.then_some(Target {
        attrs: strukt.attrs,
        vis: strukt.vis,
        ident: strukt.ident,
    })
}

/// A derive of a trait the layer implements itself would conflict with it.
fn check_derive(attr: &Attribute, errors: &mut Errors) -> bool {
    if !attr.path().is_ident("derive") {
        return true;
    }
    let Ok(paths) = attr.parse_args_with(Punctuated::<syn::Path, Token![,]>::parse_terminated)
    else {
        return true; // rustc reports a malformed derive itself
    };
    let mut ok = true;
    for path in paths {
        let name = path.segments.last().map(|s| s.ident.to_string());
        if let Some(name) = name.filter(|n| GENERATED_TRAITS.contains(&n.as_str())) {
            errors.spanned(
                &path,
                format!(
                    "`#[normalize]` already implements `{name}` for this layer; remove `{}` from the derive",
                    path.to_token_stream()
                ),
            );
            ok = false;
        }
    }
    ok
}
