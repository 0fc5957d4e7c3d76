//! Expand: the validated model into its items, one function per item. The
//! chain itself (the connections and the passes through them) is in
//! [`super::chain`].

use super::chain;
use super::names::{Access, Net};
use super::parse::Args;
use super::valid::Model;
use proc_macro2::TokenStream;
use quote::quote;
use syn::{Ident, ItemStruct, Type};

/// Every item, in the order they are emitted.
pub fn network(args: &Args, model: &Model) -> TokenStream {
    let net = Net::new(args, model);
    let items = [
        user_struct(&model.item),
        chain::connections(&net),
        workspace_struct(&net),
        workspace_impl(&net),
        workspace_default(&net),
        workspace_in_place(&net),
        workspace_boxed(&net),
        network_in_place(&net),
        grads_struct(&net),
        gradients_impl(&net),
        parameters_impl(&net),
        state_dict_impl(&net),
        chain::network_impl(&net),
    ];
    items.into_iter().collect()
}

/// The user's struct, as written.
fn user_struct(item: &ItemStruct) -> TokenStream {
    let item = &super::valid::without_field_attributes(item.clone());
    let ItemStruct {
        attrs,
        vis,
        ident,
        fields,
        ..
    } = item;
    quote! {
        #(#attrs)*
        #vis struct #ident #fields
    }
}

/// The workspace struct. Every field added here must also be written by
/// `workspace_in_place` (and `workspace_impl`'s `new`): `new_boxed` relies on
/// `init_at` initializing all of them.
fn workspace_struct(net: &Net) -> TokenStream {
    let Net {
        ident,
        vis,
        names,
        input,
        workspace,
        ..
    } = net;
    let outputs = (0..names.len()).map(|k| net.out_ty(k));
    let (saved, saved_tys) = layer_saved(net);
    let (nested_ws, nested_ws_tys) = nested_workspaces(net);
    let (inner_grads, inner_outs) = inner(net);
    let residual = residual_buffers(net, false);
    let doc = format!(
        " Every intermediate value of [`{ident}`] for a batch of `B` examples: each field holds the output of the layer of the same name. Build it once and reuse it for every step."
    );
    quote! {
        #[doc = #doc]
        #vis struct #workspace<const B: usize> {
            #(
                #[doc = " The output of this layer in the last forward pass."]
                pub #names: [#outputs; B],
            )*
            #( #saved: ::core::option::Option<#saved_tys>, )*
            #( #nested_ws: #nested_ws_tys, )*
            #( #inner_grads: [#inner_outs; B], )*
            #residual
            __input_grad: [#input; B],
        }
    }
}

/// The saved-value fields of the layers (not of nested networks, which keep
/// theirs in their own workspace) and their types.
fn layer_saved<'n>(net: &'n Net) -> (Vec<&'n Ident>, Vec<TokenStream>) {
    let krate = net.krate;
    net.layers()
        .map(|k| {
            let ty = net.tys[k];
            (&net.saved[k], quote!(<#ty as #krate::Layer>::Saved))
        })
        .unzip()
}

/// The workspace fields of the nested networks and their types.
fn nested_workspaces<'n>(net: &'n Net) -> (Vec<&'n Ident>, Vec<TokenStream>) {
    let krate = net.krate;
    (0..net.names.len())
        .filter(|k| net.nested[*k])
        .map(|k| {
            let ty = net.tys[k];
            (
                &net.workspaces[k],
                quote!(<#ty as #krate::Network>::Workspace<B>),
            )
        })
        .unzip()
}

/// The output gradient buffers of the chain's layers but the last (the
/// last one's output gradient is the caller's `dy`, as is the shortcut's),
/// and their row types.
fn inner<'n>(net: &'n Net) -> (Vec<&'n Ident>, Vec<TokenStream>) {
    let last = net.last();
    net.chain
        .iter()
        .filter(|k| **k != last)
        .map(|k| (&net.grad_bufs[*k], net.out_ty(*k)))
        .unzip()
}

/// A residual network's buffers: its output, and with a shortcut the
/// shortcut's input gradient.
fn residual_buffers(net: &Net, zero: bool) -> TokenStream {
    let (krate, input, output) = (net.krate, &net.input, &net.output);
    let value = |row: &TokenStream| {
        if zero {
            quote!([<#row as #krate::Row>::ZERO; B])
        } else {
            quote!([#row; B])
        }
    };
    let mut out = TokenStream::new();
    if net.residual.is_some() {
        let v = value(output);
        out.extend(quote!(__residual: #v,));
    }
    if net.shortcut.is_some() {
        let v = value(input);
        out.extend(quote!(__shortcut_grad: #v,));
    }
    out
}

fn workspace_impl(net: &Net) -> TokenStream {
    let Net {
        krate,
        names,
        input,
        workspace,
        ..
    } = net;
    let outputs: Vec<TokenStream> = (0..names.len()).map(|k| net.out_ty(k)).collect();
    let (saved, _) = layer_saved(net);
    let (nested_ws, nested_ws_tys) = nested_workspaces(net);
    let (inner_grads, inner_outs) = inner(net);
    let residual = residual_buffers(net, true);
    // A nested network's workspace is built by `Default`, not in const.
    let constness = (!net.any_nested()).then(|| quote!(const));
    quote! {
        #[automatically_derived]
        impl<const B: usize> #workspace<B> {
            /// A workspace of zeros, with no forward pass yet.
            #[must_use]
            pub #constness fn new() -> Self {
                Self {
                    #( #names: [<#outputs as #krate::Row>::ZERO; B], )*
                    #( #saved: ::core::option::Option::None, )*
                    #( #nested_ws: <#nested_ws_tys as ::core::default::Default>::default(), )*
                    #( #inner_grads: [<#inner_outs as #krate::Row>::ZERO; B], )*
                    #residual
                    __input_grad: [<#input as #krate::Row>::ZERO; B],
                }
            }

            /// The gradient with respect to the network's input from the last
            /// backward pass.
            #[must_use]
            pub const fn input_grad(&self) -> &[#input; B] {
                &self.__input_grad
            }
        }
    }
}

fn workspace_default(net: &Net) -> TokenStream {
    let workspace = &net.workspace;
    quote! {
        #[automatically_derived]
        impl<const B: usize> ::core::default::Default for #workspace<B> {
            #[inline]
            fn default() -> Self {
                Self::new()
            }
        }
    }
}

/// Building the workspace in place, field by field (rows one at a time), so
/// `new_boxed` never holds it on the stack.
fn workspace_in_place(net: &Net) -> TokenStream {
    let Net {
        krate,
        names,
        workspace,
        ..
    } = net;
    let (saved, _) = layer_saved(net);
    let (nested_ws, nested_ws_tys) = nested_workspaces(net);
    let (inner_grads, _) = inner(net);
    let mut rows: Vec<TokenStream> = names.iter().map(|n| quote!(#n)).collect();
    rows.extend(inner_grads.iter().map(|g| quote!(#g)));
    if net.residual.is_some() {
        rows.push(quote!(__residual));
    }
    if net.shortcut.is_some() {
        rows.push(quote!(__shortcut_grad));
    }
    rows.push(quote!(__input_grad));
    quote! {
        #[automatically_derived]
        // SAFETY: `init_at` writes every field once: the row arrays with
        // zero rows, the saved values as `None`, nested workspaces by their
        // own `init_at`; so a valid workspace is left at `p`.
        unsafe impl<const B: usize> #krate::__private::InPlace for #workspace<B> {
            #[inline]
            unsafe fn init_at(p: *mut Self) {
                // SAFETY: the caller's `p` is valid for writes and aligned, and so is
                // each field's place in it.
                unsafe {
                    #( #krate::__private::fill_rows(::core::ptr::addr_of_mut!((*p).#rows)); )*
                    #( ::core::ptr::addr_of_mut!((*p).#saved).write(::core::option::Option::None); )*
                    #( <#nested_ws_tys as #krate::__private::InPlace>::init_at(::core::ptr::addr_of_mut!((*p).#nested_ws)); )*
                }
            }
        }
    }
}

/// `new_boxed()`, with constnorm's `std` feature.
fn workspace_boxed(net: &Net) -> TokenStream {
    let Net {
        krate, workspace, ..
    } = net;
    quote! {
        #krate::__if_std! {
            #[automatically_derived]
            impl<const B: usize> #workspace<B> {
                /// The workspace of `new()`, built straight on the heap: no copy
                /// of it is ever on the stack, so a workspace of any size can be
                /// created in a debug build or on a small thread stack.
                #[must_use]
                pub fn new_boxed() -> #krate::__private::Box<Self> {
                    #krate::__private::boxed::<Self>()
                }
            }
        }
    }
}

/// The network built in place, layer by layer, with `new_boxed()`: when
/// every layer can be (the runtime's layers, nested networks, convolutions
/// of any size), so a network of tens of MiB never passes through the
/// stack. The bounds are higher-ranked so that they are checked where
/// `new_boxed` is called, not here: a network holding a layer of the user's
/// own without `InPlace` still compiles, without `new_boxed`.
fn network_in_place(net: &Net) -> TokenStream {
    let Net {
        krate,
        ident,
        names,
        tys,
        ..
    } = net;
    quote! {
        #[automatically_derived]
        // SAFETY: `init_at` writes every field of the struct (they are its
        // layers, all of them) by the field type's own `init_at`, which
        // leaves a valid value; so a valid network is left at `p`.
        unsafe impl #krate::__private::InPlace for #ident
        where
            #( for<'__in_place> #tys: #krate::__private::InPlace, )*
        {
            #[inline]
            unsafe fn init_at(p: *mut Self) {
                // SAFETY: the caller's `p` is valid for writes and aligned,
                // and so is each field's place in it.
                unsafe {
                    #( <#tys as #krate::__private::InPlace>::init_at(::core::ptr::addr_of_mut!((*p).#names)); )*
                }
            }
        }

        #krate::__if_std! {
            #[automatically_derived]
            impl #ident
            where
                #( for<'__in_place> #tys: #krate::__private::InPlace, )*
            {
                /// The network with every layer as its `new()` (zeros; no
                /// initialization drawn), built straight on the heap: no copy of it is
                /// ever on the stack, so a network of any size can be created in
                /// a debug build or on a small thread stack. Then
                /// `init_seeded` or a state dict fills it.
                #[must_use]
                pub fn new_boxed() -> #krate::__private::Box<Self> {
                    #krate::__private::boxed::<Self>()
                }
            }
        }
    }
}

fn grads_struct(net: &Net) -> TokenStream {
    let Net {
        krate,
        ident,
        vis,
        names,
        tys,
        grads,
        ..
    } = net;
    let doc = format!(
        " Gradients of every parameter of [`{ident}`], one field per layer. `Default` is zeros."
    );
    quote! {
        #[doc = #doc]
        #[derive(::core::clone::Clone, ::core::fmt::Debug, ::core::default::Default)]
        #vis struct #grads {
            #(
                #[doc = " Gradients of this layer's parameters."]
                pub #names: <#tys as #krate::Parameters>::Grads,
            )*
        }

        #[automatically_derived]
        // SAFETY: `init_at` writes every field (one per layer) by its type's
        // own `init_at`, which leaves a valid value.
        unsafe impl #krate::__private::InPlace for #grads
        where
            #( for<'__in_place> <#tys as #krate::Parameters>::Grads: #krate::__private::InPlace, )*
        {
            #[inline]
            unsafe fn init_at(p: *mut Self) {
                // SAFETY: the caller's `p` is valid for writes and aligned,
                // and so is each field's place in it.
                unsafe {
                    #( <<#tys as #krate::Parameters>::Grads as #krate::__private::InPlace>::init_at(::core::ptr::addr_of_mut!((*p).#names)); )*
                }
            }
        }

        #krate::__if_std! {
            #[automatically_derived]
            impl #grads
            where
                #( for<'__in_place> <#tys as #krate::Parameters>::Grads: #krate::__private::InPlace, )*
            {
                /// Zero gradients built straight on the heap (no copy on the
                /// stack), for networks of any size.
                #[must_use]
                pub fn new_boxed() -> #krate::__private::Box<Self> {
                    #krate::__private::boxed::<Self>()
                }
            }
        }
    }
}

/// The body of an indexed accessor: array `i` of the layer that holds it,
/// counting each layer's arrays in field order. `get(ty, name)` is the
/// layer's own accessor.
fn by_index(net: &Net, access: Access, get: impl Fn(&Type, &Ident) -> TokenStream) -> TokenStream {
    let arrays = net.arrays();
    let gets = net
        .tys
        .iter()
        .zip(&net.names)
        .map(|(ty, name)| net.same_scalar(ty, &get(ty, name), access));
    let empty = access.borrow();
    quote! {
        #(
            if i < #arrays {
                return #gets;
            }
            let i = i - #arrays;
        )*
        let _ = i;
        #empty []
    }
}

fn gradients_impl(net: &Net) -> TokenStream {
    let Net {
        krate,
        scalar: t,
        grads,
        ..
    } = net;
    let arrays = net.arrays();
    let array = by_index(
        net,
        Access::Shared,
        |ty, name| quote!(#krate::Gradients::<<#ty as #krate::Parameters>::Scalar>::array(&self.#name, i)),
    );
    let array_mut = by_index(
        net,
        Access::Mut,
        |ty, name| quote!(#krate::Gradients::<<#ty as #krate::Parameters>::Scalar>::array_mut(&mut self.#name, i)),
    );
    quote! {
        #[automatically_derived]
        impl #krate::Gradients<#t> for #grads {
            const ARRAYS: usize = 0 #( + #arrays )*;

            #[inline]
            fn array(&self, i: usize) -> &[#t] {
                #array
            }

            #[inline]
            fn array_mut(&mut self, i: usize) -> &mut [#t] {
                #array_mut
            }
        }
    }
}

fn parameters_impl(net: &Net) -> TokenStream {
    let Net {
        krate,
        ident,
        names,
        scalar: t,
        grads,
        ..
    } = net;
    let parameter = by_index(
        net,
        Access::Shared,
        |_, name| quote!(#krate::Parameters::parameter(&self.#name, i)),
    );
    let parameter_mut = by_index(
        net,
        Access::Mut,
        |_, name| quote!(#krate::Parameters::parameter_mut(&mut self.#name, i)),
    );
    quote! {
        #[automatically_derived]
        impl #krate::Parameters for #ident {
            type Scalar = #t;
            type Grads = #grads;

            #[inline]
            fn parameter(&self, i: usize) -> &[#t] {
                #parameter
            }

            #[inline]
            fn parameter_mut(&mut self, i: usize) -> &mut [#t] {
                #parameter_mut
            }

            fn reset_parameters<R: #krate::__private::rand::Rng + ?::core::marker::Sized>(&mut self, rng: &mut R) {
                #( #krate::Parameters::reset_parameters(&mut self.#names, rng); )*
            }
        }
    }
}

fn state_dict_impl(net: &Net) -> TokenStream {
    let Net {
        krate,
        ident,
        names,
        tys,
        keys,
        scalar: t,
        ..
    } = net;
    let values = quote!(values);
    let values_ref = tys
        .iter()
        .map(|ty| net.same_scalar(ty, &values, Access::Shared));
    let values_mut = tys
        .iter()
        .map(|ty| net.same_scalar(ty, &values, Access::Mut));
    quote! {
        #[automatically_derived]
        impl #krate::StateDict for #ident {
            type Scalar = #t;

            fn visit_arrays(&self, f: &mut #krate::Visit<'_, #t>) {
                #(
                    #krate::StateDict::visit_arrays(&self.#names, &mut |key, shape, values| {
                        f(&#krate::Key::nested(#keys, key), shape, #values_ref);
                    });
                )*
            }

            fn visit_arrays_mut(&mut self, f: &mut #krate::VisitMut<'_, #t>) {
                #(
                    #krate::StateDict::visit_arrays_mut(&mut self.#names, &mut |key, shape, values| {
                        f(&#krate::Key::nested(#keys, key), shape, #values_mut);
                    });
                )*
            }

            fn visit_counters(&self, f: &mut #krate::VisitCounter<'_>) {
                #(
                    #krate::StateDict::visit_counters(&self.#names, &mut |key, value| {
                        f(&#krate::Key::nested(#keys, key), value);
                    });
                )*
            }

            fn visit_counters_mut(&mut self, f: &mut #krate::VisitCounterMut<'_>) {
                #(
                    #krate::StateDict::visit_counters_mut(&mut self.#names, &mut |key, value| {
                        f(&#krate::Key::nested(#keys, key), value);
                    });
                )*
            }
        }
    }
}
