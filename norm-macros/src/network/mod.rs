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

/// The whole pipeline. On any error every error is reported and the struct
/// is emitted unchanged.
pub fn network(attr: TokenStream, input: TokenStream) -> TokenStream {
    let mut errors = Errors::default();
    let args = parse::args(attr, &mut errors);
    let item = parse::item(input.clone(), &mut errors);
    let model = item.and_then(|item| valid::validate(item, &mut errors));
    match (errors.finish(), args, model) {
        (Ok(()), Some(args), Some(model)) => expand::network(&args, &model),
        (Err(e), ..) => fallback(input, &e),
        (Ok(()), ..) => fallback(input, &internal("network")),
    }
}
