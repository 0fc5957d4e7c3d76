//! The names and types every generated item is written with: the layers',
//! and the identifiers generated from them, in one place.

use super::parse::Args;
use super::valid::Model;
use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};
use syn::ext::IdentExt;
use syn::spanned::Spanned;
use syn::{Ident, Type, Visibility};

pub struct Net<'a> {
    pub krate: &'a syn::Path,
    /// The user's struct.
    pub ident: &'a Ident,
    pub vis: &'a Visibility,
    /// The layers' field names and types, in order.
    pub names: Vec<&'a Ident>,
    pub tys: Vec<&'a Type>,
    /// The state-dict key of each layer: its name, or with `sequential` its
    /// position.
    pub keys: Vec<String>,
    /// The network's scalar: the first layer's.
    pub scalar: TokenStream,
    /// The network's input row (the first layer's) and output row (the
    /// last's).
    pub input: TokenStream,
    pub output: TokenStream,
    /// `MlpWorkspace` and `MlpGrads`.
    pub workspace: Ident,
    pub grads: Ident,
    /// Per layer: the workspace field for what its forward pass saved
    /// (`__saved_fc1`), the gradient buffer for its output (`__grad_fc1`;
    /// the last layer's output gradient is the caller's `dy`), and the
    /// variable for the saved value in backward (`__s_fc1`).
    pub saved: Vec<Ident>,
    pub grad_bufs: Vec<Ident>,
    pub saved_vars: Vec<Ident>,
    /// The fields of the chain, in order: all but a residual network's
    /// `#[shortcut]`.
    pub chain: Vec<usize>,
    /// The `#[shortcut]` field of a residual network.
    pub shortcut: Option<usize>,
    /// `connections[k]`: the trait between field `k` and the field before it
    /// in the chain (`__Mlp_fc1_into_act1`); `None` for the first.
    pub connections: Vec<Option<Ident>>,
    /// Per layer: whether it is a nested network (`#[nested]`), and the
    /// workspace field of one (`__ws_block1`).
    pub nested: Vec<bool>,
    pub workspaces: Vec<Ident>,
    /// `#[network(residual)]`: the trait from the last output to the input
    /// (`__Block_residual`), for `y = x + f(x)`.
    pub residual: Option<Ident>,
}

impl<'a> Net<'a> {
    pub fn new(args: &'a Args, model: &'a Model) -> Self {
        let krate = &args.krate;
        let ident = &model.item.ident;
        let names: Vec<&Ident> = model.fields.iter().map(|f| &f.name).collect();
        let tys: Vec<&Type> = model.fields.iter().map(|f| &f.ty).collect();
        let keys = if args.sequential {
            (0..names.len()).map(|i| i.to_string()).collect()
        } else {
            names.iter().map(|n| n.unraw().to_string()).collect()
        };
        let chain: Vec<usize> = (0..names.len())
            .filter(|k| !model.fields[*k].shortcut)
            .collect();
        // A validated model has at least one layer in its chain.
        let (first, last) = (chain[0], chain[chain.len() - 1]);
        let per_layer = |prefix: &str| -> Vec<Ident> {
            names
                .iter()
                .map(|n| format_ident!("{}{}", prefix, n.unraw()))
                .collect()
        };
        let mut connections = vec![None; names.len()];
        for pair in chain.windows(2) {
            connections[pair[1]] = Some(format_ident!(
                "__{}_{}_into_{}",
                ident,
                names[pair[0]].unraw(),
                names[pair[1]].unraw()
            ));
        }
        let (first_ty, last_ty) = (tys[first], tys[last]);
        Net {
            krate,
            ident,
            vis: &model.item.vis,
            keys,
            scalar: quote!(<#first_ty as #krate::Parameters>::Scalar),
            input: {
                let tr = layer_trait(krate, model.fields[first].nested);
                quote!(<#first_ty as #tr>::Input)
            },
            output: {
                let tr = layer_trait(krate, model.fields[last].nested);
                quote_spanned!(last_ty.span()=> <#last_ty as #tr>::Output)
            },
            workspace: format_ident!("{}Workspace", ident),
            grads: format_ident!("{}Grads", ident),
            saved: per_layer("__saved_"),
            grad_bufs: per_layer("__grad_"),
            saved_vars: per_layer("__s_"),
            connections,
            shortcut: model.fields.iter().position(|f| f.shortcut),
            chain,
            nested: model.fields.iter().map(|f| f.nested).collect(),
            workspaces: per_layer("__ws_"),
            residual: args.residual.then(|| format_ident!("__{}_residual", ident)),
            names,
            tys,
        }
    }

    /// `Layer`, or `Network` for a nested network: the trait whose
    /// `Input` / `Output` / `MIN_*_ROWS` layer `k` has.
    pub fn layer_trait(&self, k: usize) -> TokenStream {
        layer_trait(self.krate, self.nested[k])
    }

    /// The field before `k` in the chain.
    pub fn prev(&self, k: usize) -> Option<usize> {
        let p = self.chain.iter().position(|c| *c == k)?;
        p.checked_sub(1).map(|p| self.chain[p])
    }

    /// The fields that are layers, not nested networks (those keep their
    /// saved values in their own workspace).
    pub fn layers(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.names.len()).filter(|k| !self.nested[*k])
    }

    /// The last field of the chain, whose output is the network's.
    pub fn last(&self) -> usize {
        self.chain[self.chain.len() - 1]
    }

    /// Layer `k`'s output row type.
    pub fn out_ty(&self, k: usize) -> TokenStream {
        let (ty, tr) = (self.tys[k], self.layer_trait(k));
        quote!(<#ty as #tr>::Output)
    }

    /// Whether any layer is a nested network (whose workspace has no
    /// `const` constructor).
    pub fn any_nested(&self) -> bool {
        self.nested.iter().any(|n| *n)
    }

    /// `<<ty as Parameters>::Grads as Gradients<..>>::ARRAYS` for each layer:
    /// how many arrays of parameters it has.
    pub fn arrays(&self) -> Vec<TokenStream> {
        let krate = self.krate;
        self.tys
            .iter()
            .map(|ty| {
                quote_spanned!(ty.span()=> <<#ty as #krate::Parameters>::Grads as #krate::Gradients<<#ty as #krate::Parameters>::Scalar>>::ARRAYS)
            })
            .collect()
    }

    /// `values` (a slice of the layer's scalar) seen as the network's scalar;
    /// a layer of another scalar type is one error at its field.
    pub fn same_scalar(&self, ty: &Type, values: &TokenStream, access: Access) -> TokenStream {
        let (krate, t) = (self.krate, &self.scalar);
        let method = format_ident!("slice{}", access.suffix());
        quote_spanned! {ty.span()=>
            <<#ty as #krate::Parameters>::Scalar as #krate::__private::SameScalar<#t>>::#method(#values)
        }
    }
}

/// Whether a generated accessor borrows shared or mutably: the pairs
/// `array` / `array_mut`, `visit_arrays` / `visit_arrays_mut`, ...
#[derive(Clone, Copy)]
pub enum Access {
    Shared,
    Mut,
}

impl Access {
    /// The end of the method's name: `""` or `"_mut"`.
    pub fn suffix(self) -> &'static str {
        match self {
            Access::Shared => "",
            Access::Mut => "_mut",
        }
    }

    /// `&` or `&mut`.
    pub fn borrow(self) -> TokenStream {
        match self {
            Access::Shared => quote!(&),
            Access::Mut => quote!(&mut),
        }
    }
}

/// `Layer`, or `Network` for a nested network.
fn layer_trait(krate: &syn::Path, nested: bool) -> TokenStream {
    if nested {
        quote!(#krate::Network)
    } else {
        quote!(#krate::Layer)
    }
}
