//! Validate: the struct has the shape of a chain of layers.

use super::parse::SHAPE_HELP;
use super::symbol::{NESTED, SHORTCUT};
use crate::errors::Errors;
use syn::{Fields, FieldsNamed, Ident, ItemStruct, Type};

/// One layer of the chain.
pub struct Field {
    pub name: Ident,
    pub ty: Type,
    /// `#[nested]`: the layer is itself a network (`Network`, not `Layer`).
    pub nested: bool,
    /// `#[shortcut]`: the skip path of a residual network, not in the chain.
    pub shortcut: bool,
}

/// The validated model: a non-generic struct with at least one named field,
/// none of them `#[cfg]`-gated.
pub struct Model {
    pub item: ItemStruct,
    /// The layers in order; never empty.
    pub fields: Vec<Field>,
}

/// The model, or `None` after reporting every problem with the struct.
pub fn validate(item: ItemStruct, errors: &mut Errors) -> Option<Model> {
    let not_generic = not_generic(&item, errors);
    let named = named_fields(&item, errors)?;
    let ungated = ungated(named, errors);
    let fields = named
        .named
        .iter()
        .filter_map(|field| {
            let name = field.ident.clone()?;
            let ty = field.ty.clone();
            let nested = field.attrs.iter().any(is_nested);
            let shortcut = field.attrs.iter().any(is_shortcut);
            Some(Field {
                name,
                ty,
                nested,
                shortcut,
            })
        })
        .collect();
    (not_generic && ungated).then_some(Model { item, fields })
}

/// The sizes of a layer are constants, so the chain cannot be generic.
fn not_generic(item: &ItemStruct, errors: &mut Errors) -> bool {
    let generic = !item.generics.params.is_empty() || item.generics.where_clause.is_some();
    if generic {
        errors.spanned(
            &item.generics,
            "a #[network] struct cannot be generic: its layers have fixed sizes",
        );
    }
    !generic
}

/// The layers: named (the names are the state-dict keys), at least one.
fn named_fields<'a>(item: &'a ItemStruct, errors: &mut Errors) -> Option<&'a FieldsNamed> {
    match &item.fields {
        Fields::Named(named) if !named.named.is_empty() => return Some(named),
        Fields::Named(named) => {
            errors.spanned(named, "a #[network] needs at least one layer field");
        }
        Fields::Unnamed(unnamed) => errors.spanned(
            unnamed,
            "the layers of a #[network] need names (they become the state-dict keys): use named fields",
        ),
        Fields::Unit => errors.spanned(&item.ident, SHAPE_HELP),
    }
    None
}

/// No layer is `#[cfg]`-gated: which layers there are, and so the chain of
/// sizes, would change with the configuration.
fn ungated(named: &FieldsNamed, errors: &mut Errors) -> bool {
    let mut ok = true;
    for field in &named.named {
        if let Some(cfg) = field.attrs.iter().find(|a| a.path().is_ident("cfg")) {
            errors.spanned(
                cfg,
                "a layer of a #[network] cannot be `#[cfg]`-gated: the chain of sizes would change with the configuration",
            );
            ok = false;
        }
    }
    ok
}

/// `#[nested]` on a field.
pub fn is_nested(attr: &syn::Attribute) -> bool {
    attr.path().is_ident(NESTED)
}

/// `#[shortcut]` on a field.
pub fn is_shortcut(attr: &syn::Attribute) -> bool {
    attr.path().is_ident(SHORTCUT)
}

/// Our field attributes: rustc knows none of them.
pub fn is_ours(attr: &syn::Attribute) -> bool {
    is_nested(attr) || is_shortcut(attr)
}

/// At most one `#[shortcut]`, only in a residual network, and not the only
/// field.
pub fn shortcut(model: &Model, residual: bool, errors: &mut Errors) -> bool {
    let marked: Vec<_> = model
        .item
        .fields
        .iter()
        .filter(|f| f.attrs.iter().any(is_shortcut))
        .collect();
    let Some(first) = marked.first() else {
        return true;
    };
    let attr = first.attrs.iter().find(|a| is_shortcut(a));
    let message = if !residual {
        "`#[shortcut]` is the skip path of a residual network: write `#[network(residual)]`"
    } else if marked.len() > 1 {
        "a residual network has one `#[shortcut]`"
    } else if model.fields.len() < 2 {
        "a residual network needs a layer besides its `#[shortcut]`"
    } else {
        return true;
    };
    errors.spanned(attr, message);
    false
}

/// The struct as the user wrote it, without our `#[nested]` field
/// attributes (rustc knows no such attribute).
pub fn without_field_attributes(mut item: ItemStruct) -> ItemStruct {
    for field in &mut item.fields {
        field.attrs.retain(|a| !is_ours(a));
    }
    item
}
