//! Parse: the attribute's arguments into [`Args`], the item into a struct.

use super::symbol::{ARGS, CRATE, RESIDUAL, SEQUENTIAL};
use crate::errors::{Errors, unknown};
use proc_macro2::{Span, TokenStream};
use quote::quote;
use syn::ext::IdentExt;
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::{ItemStruct, Meta, Token};

/// The parsed attribute.
pub struct Args {
    /// State-dict keys are field positions (`0.weight`), as in
    /// `torch.nn.Sequential`, instead of field names.
    pub sequential: bool,
    /// `y = x + f(x)`: the chain's output plus the network's input.
    pub residual: bool,
    pub krate: syn::Path,
}

/// What the attribute wants to be put on, for the errors about its shape.
pub const SHAPE_HELP: &str = "#[network] goes on a struct with named fields, the layers in order: \
                              `struct Mlp { fc1: Linear<4, 16>, act1: Relu<16>, out: Linear<16, 3> }`";

/// The arguments, or `None` after reporting every wrong one.
pub fn args(attr: TokenStream, errors: &mut Errors) -> Option<Args> {
    let metas = match Punctuated::<Meta, Token![,]>::parse_terminated.parse2(attr) {
        Ok(metas) => metas,
        Err(e) => {
            errors.push(e);
            return None;
        }
    };
    let mut seen = Seen::default();
    let mut ok = true;
    for meta in &metas {
        if let Err(e) = seen.arg(meta) {
            errors.push(e);
            ok = false;
        }
    }
    ok.then(|| Args {
        sequential: seen.sequential,
        residual: seen.residual,
        krate: seen.krate.unwrap_or_else(|| syn::parse_quote!(::constnorm)),
    })
}

/// The arguments met so far, to tell a duplicate.
#[derive(Default)]
struct Seen {
    sequential: bool,
    residual: bool,
    krate: Option<syn::Path>,
}

impl Seen {
    /// Takes one argument; an error is on its offending token.
    fn arg(&mut self, meta: &Meta) -> syn::Result<()> {
        let path = meta.path();
        let Some(name) = path.get_ident().map(|i| i.unraw().to_string()) else {
            let found = quote!(#path).to_string();
            return Err(syn::Error::new_spanned(
                path,
                unknown("argument", &found, ARGS),
            ));
        };
        match (name.as_str(), meta) {
            (SEQUENTIAL, Meta::Path(_)) if self.sequential => Err(duplicate(path, SEQUENTIAL)),
            (SEQUENTIAL, Meta::Path(_)) => {
                self.sequential = true;
                Ok(())
            }
            (SEQUENTIAL, _) => Err(syn::Error::new_spanned(
                meta,
                format!("`{SEQUENTIAL}` takes no value: write `#[network({SEQUENTIAL})]`"),
            )),
            (RESIDUAL, Meta::Path(_)) if self.residual => Err(duplicate(path, RESIDUAL)),
            (RESIDUAL, Meta::Path(_)) => {
                self.residual = true;
                Ok(())
            }
            (RESIDUAL, _) => Err(syn::Error::new_spanned(
                meta,
                format!("`{RESIDUAL}` takes no value: write `#[network({RESIDUAL})]`"),
            )),
            (CRATE, Meta::NameValue(nv)) => {
                let krate = crate::args::crate_path(&nv.value)?;
                if self.krate.replace(krate).is_some() {
                    return Err(duplicate(path, CRATE));
                }
                Ok(())
            }
            (CRATE, _) => Err(syn::Error::new_spanned(
                meta,
                format!("`{CRATE}` needs a path: `{CRATE} = ::my_reexport::constnorm`"),
            )),
            (other, _) => Err(syn::Error::new_spanned(
                path,
                unknown("argument", other, ARGS),
            )),
        }
    }
}

fn duplicate(path: &syn::Path, name: &str) -> syn::Error {
    syn::Error::new_spanned(path, format!("duplicate argument `{name}`"))
}

/// The struct the attribute is on; anything else is one error at its first
/// token.
pub fn item(input: TokenStream, errors: &mut Errors) -> Option<ItemStruct> {
    if let Ok(item) = syn::parse2::<ItemStruct>(input.clone()) {
        return Some(item);
    }
    let span = input
        .into_iter()
        .next()
        .map_or_else(Span::call_site, |t| t.span());
    errors.at(span, SHAPE_HELP);
    None
}
