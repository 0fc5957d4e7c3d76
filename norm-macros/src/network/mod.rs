//! `#[network]`: a struct whose named fields are layers, in order, becomes a
//! network. Parse the attribute and the struct (`parse`), validate the
//! struct's shape (`valid`), and expand it (`expand`, with the chain of
//! layers in `chain` and the generated names in `names`).

mod chain;
mod expand;
mod names;
mod parse;
mod symbol;
mod valid;

use crate::errors::{Errors, fallback, internal};
use proc_macro2::TokenStream;
use quote::ToTokens;

/// The user's item for the fallback: without our field attributes where it
/// parses as a struct, so the errors are only ours.
fn as_written(input: TokenStream) -> TokenStream {
    match syn::parse2::<syn::ItemStruct>(input.clone()) {
        Ok(item)
            if item
                .fields
                .iter()
                .any(|f| f.attrs.iter().any(valid::is_ours)) =>
        {
            valid::without_field_attributes(item).into_token_stream()
        }
        _ => input,
    }
}

/// The whole pipeline. On any error every error is reported and the struct
/// is emitted unchanged.
pub fn network(attr: TokenStream, input: TokenStream) -> TokenStream {
    let mut errors = Errors::default();
    let args = parse::args(attr, &mut errors);
    let item = parse::item(input.clone(), &mut errors);
    let model = item.and_then(|item| valid::validate(item, &mut errors));
    let residual = args.as_ref().is_some_and(|a| a.residual);
    let model = model.filter(|m| valid::shortcut(m, residual, &mut errors));
    match (errors.finish(), args, model) {
        (Ok(()), Some(args), Some(model)) => expand::network(&args, &model),
        (Err(e), ..) => fallback(as_written(input), &e),
        (Ok(()), ..) => fallback(as_written(input), &internal("network")),
    }
}
