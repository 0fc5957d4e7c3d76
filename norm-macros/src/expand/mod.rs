//! Expand: the validated configuration into the layer's struct and impls,
//! one small function per generated item.
//!
//! - `layout.rs`: the types and sizes every item is written in;
//! - `fields.rs`: the struct, its constants, `new` and `Default`, and the
//!   private accessors the impls call;
//! - `kernel.rs`: the calls into the runtime kernel of the layer's kind;
//! - `methods.rs`: `fold` and the SyncBatchNorm methods of batch norm;
//! - `traits.rs`: `Layer`, `Normalization`, `Parameters`, `StateDict`, serde;
//! - `checks.rs`: const assertions for sizes given as expressions.

mod checks;
mod fields;
mod kernel;
mod layout;
mod methods;
mod traits;

use crate::errors::{Errors, fallback, internal};
use crate::{args, item, valid};
use layout::Gen;
use proc_macro2::TokenStream;

/// The whole pipeline: parse the attribute and the item, validate, expand.
/// On any error, every error is reported and the item is emitted unchanged, so
/// the rest of the user's code does not drown in follow-up errors.
pub fn normalize(attr: TokenStream, input: TokenStream) -> TokenStream {
    let mut errors = Errors::default();
    let args = args::parse(attr, &mut errors);
    let target = item::parse(input.clone(), &mut errors);
    let config = valid::validate(args, &mut errors);
    match (errors.finish(), config, target) {
        (Ok(()), Some(config), Some(target)) => layer(&Gen::new(&config, &target)),
        (Err(e), ..) => fallback(input, &e),
        (Ok(()), ..) => fallback(input, &internal("normalize")),
    }
}

/// Every generated item, in the order a reader meets them.
fn layer(g: &Gen<'_>) -> TokenStream {
    let mut out = fields::layer_struct(g);
    out.extend(fields::inherent_impl(g));
    out.extend(fields::default_impl(g));
    out.extend(traits::serde_impls(g));
    out.extend(traits::state_dict_impl(g));
    out.extend(traits::in_place_impl(g));
    out.extend(traits::parameters_impl(g));
    out.extend(traits::normalization_impl(g));
    out.extend(traits::layer_impl(g));
    out.extend(checks::size_checks(g));
    out
}
