//! `#[network]`: a struct whose named fields are layers, in order, becomes a
//! network. Parse the attribute and the struct (`parse`), validate the
//! struct's shape (`valid`), and expand it.

mod parse;
mod symbol;
#[cfg(test)]
mod tests;
mod valid;

use crate::errors::{Errors, fallback, internal};
use parse::Args;
use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};
use syn::ext::IdentExt;
use syn::spanned::Spanned;
use syn::{Ident, Type};
use valid::Model;

/// The whole pipeline. On any error every error is reported and the struct
/// is emitted unchanged.
pub fn network(attr: TokenStream, input: TokenStream) -> TokenStream {
    let mut errors = Errors::default();
    let args = parse::args(attr, &mut errors);
    let item = parse::item(input.clone(), &mut errors);
    let model = item.and_then(|item| valid::validate(item, &mut errors));
    match (errors.finish(), args, model) {
        (Ok(()), Some(args), Some(model)) => expand(&args, &model),
        (Err(e), ..) => fallback(input, &e),
        (Ok(()), ..) => fallback(input, &internal("network")),
    }
}

// ---- expand ----------------------------------------------------------------

#[allow(clippy::too_many_lines)]
fn expand(args: &Args, model: &Model) -> TokenStream {
    let krate = &args.krate;
    let item = &model.item;
    let ident = &item.ident;
    let vis = &item.vis;
    let fields = &model.fields;
    let names: Vec<&Ident> = fields.iter().map(|f| &f.name).collect();
    let tys: Vec<&Type> = fields.iter().map(|f| &f.ty).collect();
    let keys: Vec<String> = if args.sequential {
        (0..fields.len()).map(|i| i.to_string()).collect()
    } else {
        names.iter().map(|n| n.unraw().to_string()).collect()
    };
    let (first, last) = (tys[0], tys[tys.len() - 1]);
    let last_name = names[names.len() - 1];
    let t = quote!(<#first as #krate::Parameters>::Scalar);
    let input = quote!(<#first as #krate::Layer>::Input);
    let output = quote_spanned!(last.span()=> <#last as #krate::Layer>::Output);
    let workspace = format_ident!("{}Workspace", ident);
    let grads = format_ident!("{}Grads", ident);
    let saved: Vec<Ident> = names
        .iter()
        .map(|n| format_ident!("__saved_{}", n.unraw()))
        .collect();
    let grad_bufs: Vec<Ident> = names
        .iter()
        .map(|n| format_ident!("__grad_{}", n.unraw()))
        .collect();
    let saved_vars: Vec<Ident> = names
        .iter()
        .map(|n| format_ident!("__s_{}", n.unraw()))
        .collect();

    // One trait per connection, so a size mismatch is one error that names
    // both fields and shows both row types.
    let mut feeds_defs = TokenStream::new();
    let mut feeds = Vec::new(); // feeds[k]: the trait between field k-1 and k
    for k in 1..fields.len() {
        let (prev, next) = (names[k - 1].unraw(), names[k].unraw());
        let trait_ident = format_ident!("__{}_{}_into_{}", ident, prev, next);
        let message = format!(
            "layer `{next}` cannot follow `{prev}` in `{ident}`: `{prev}` outputs `{{Self}}` per example, but `{next}` takes `{{In}}`"
        );
        let label = format!("`{next}` takes `{{In}}`, but `{prev}` outputs `{{Self}}`");
        let note = format!(
            "each field of a #[network] struct takes the previous field's output: make `{prev}`'s output size and `{next}`'s input size (and scalar type) match"
        );
        feeds_defs.extend(quote! {
            #[doc(hidden)]
            #[allow(non_camel_case_types)]
            #[diagnostic::on_unimplemented(message = #message, label = #label, note = #note)]
            trait #trait_ident<In> {
                fn cast<const B: usize>(x: &[Self; B]) -> &[In; B]
                where
                    Self: ::core::marker::Sized;
                fn cast_mut<const B: usize>(x: &mut [Self; B]) -> &mut [In; B]
                where
                    Self: ::core::marker::Sized;
            }

            #[automatically_derived]
            impl<T> #trait_ident<T> for T {
                #[inline(always)]
                fn cast<const B: usize>(x: &[T; B]) -> &[T; B] {
                    x
                }
                #[inline(always)]
                fn cast_mut<const B: usize>(x: &mut [T; B]) -> &mut [T; B] {
                    x
                }
            }
        });
        feeds.push(trait_ident);
    }
    // The input of field k inside the workspace, cast to its input type.
    let input_of = |k: usize| -> TokenStream {
        if k == 0 {
            quote!(x)
        } else {
            let (prev, prev_ty, ty, tr) = (names[k - 1], tys[k - 1], tys[k], &feeds[k - 1]);
            quote_spanned! {ty.span()=>
                <<#prev_ty as #krate::Layer>::Output as #tr<<#ty as #krate::Layer>::Input>>::cast(&workspace.#prev)
            }
        }
    };

    let mut train = TokenStream::new();
    let mut eval = TokenStream::new();
    for (k, ((name, ty), saved)) in names.iter().zip(&tys).zip(&saved).enumerate() {
        let x = input_of(k);
        train.extend(quote! {
            workspace.#saved = ::core::option::Option::Some(
                <#ty as #krate::Layer>::forward_train(&mut self.#name, #x, &mut workspace.#name)?,
            );
        });
        eval.extend(quote! {
            workspace.#saved = ::core::option::Option::Some(
                <#ty as #krate::Layer>::forward_eval(&self.#name, #x, &mut workspace.#name)?,
            );
        });
    }

    let mut backward = TokenStream::new();
    for k in (0..fields.len()).rev() {
        let (name, ty, s) = (names[k], tys[k], &saved_vars[k]);
        let x = input_of(k);
        let dy = if k + 1 == fields.len() {
            quote!(dy)
        } else {
            let g = &grad_bufs[k];
            quote!(&workspace.#g)
        };
        let dx = if k == 0 {
            quote!(&mut workspace.__input_grad)
        } else {
            let (g, prev_ty, tr) = (&grad_bufs[k - 1], tys[k - 1], &feeds[k - 1]);
            quote_spanned! {ty.span()=>
                <<#prev_ty as #krate::Layer>::Output as #tr<<#ty as #krate::Layer>::Input>>::cast_mut(&mut workspace.#g)
            }
        };
        backward.extend(quote! {
            <#ty as #krate::Layer>::backward(&self.#name, #x, #s, #dy, #dx, &mut grads.#name)?;
        });
    }

    let inner_tys = &tys[..tys.len() - 1];
    let inner_grads = &grad_bufs[..grad_bufs.len() - 1];
    let arrays: Vec<TokenStream> = tys
        .iter()
        .map(|ty| {
            quote_spanned!(ty.span()=> <<#ty as #krate::Parameters>::Grads as #krate::Gradients<<#ty as #krate::Parameters>::Scalar>>::ARRAYS)
        })
        .collect();
    // `values` (the layer's scalar) seen as the network's scalar; a layer of
    // another scalar type is one error at its field.
    let same = |ty: &Type, values: TokenStream, suffix: &str| -> TokenStream {
        let method = format_ident!("slice{}", suffix);
        quote_spanned! {ty.span()=>
            <<#ty as #krate::Parameters>::Scalar as #krate::__private::SameScalar<#t>>::#method(#values)
        }
    };
    let grad_get: Vec<TokenStream> = tys
        .iter()
        .zip(&names)
        .map(|(ty, name)| same(ty, quote!(#krate::Gradients::<<#ty as #krate::Parameters>::Scalar>::array(&self.#name, i)), ""))
        .collect();
    let grad_get_mut: Vec<TokenStream> = tys
        .iter()
        .zip(&names)
        .map(|(ty, name)| same(ty, quote!(#krate::Gradients::<<#ty as #krate::Parameters>::Scalar>::array_mut(&mut self.#name, i)), "_mut"))
        .collect();
    let param_get: Vec<TokenStream> = tys
        .iter()
        .zip(&names)
        .map(|(ty, name)| {
            same(
                ty,
                quote!(#krate::Parameters::parameter(&self.#name, i)),
                "",
            )
        })
        .collect();
    let param_get_mut: Vec<TokenStream> = tys
        .iter()
        .zip(&names)
        .map(|(ty, name)| {
            same(
                ty,
                quote!(#krate::Parameters::parameter_mut(&mut self.#name, i)),
                "_mut",
            )
        })
        .collect();
    // The body of an indexed accessor: array `i` of the layer that holds it,
    // counting each layer's arrays in field order.
    let by_index = |gets: &[TokenStream], empty: TokenStream| -> TokenStream {
        quote! {
            #(
                if i < #arrays {
                    return #gets;
                }
                let i = i - #arrays;
            )*
            let _ = i;
            #empty
        }
    };
    let grad_body = by_index(&grad_get, quote!(&[]));
    let grad_body_mut = by_index(&grad_get_mut, quote!(&mut []));
    let param_body = by_index(&param_get, quote!(&[]));
    let param_body_mut = by_index(&param_get_mut, quote!(&mut []));
    let visit_values: Vec<TokenStream> =
        tys.iter().map(|ty| same(ty, quote!(values), "")).collect();
    let visit_values_mut: Vec<TokenStream> = tys
        .iter()
        .map(|ty| same(ty, quote!(values), "_mut"))
        .collect();
    let ws_doc = format!(
        " Every intermediate value of [`{ident}`] for a batch of `B` examples: each field holds the output of the layer of the same name. Build it once and reuse it for every step."
    );
    let grads_doc = format!(
        " Gradients of every parameter of [`{ident}`], one field per layer. `Default` is zeros."
    );
    let struct_attrs = &item.attrs;
    let struct_fields = &item.fields;

    quote! {
        #(#struct_attrs)*
        #vis struct #ident #struct_fields

        #feeds_defs

        #[doc = #ws_doc]
        #vis struct #workspace<const B: usize> {
            #(
                #[doc = " The output of this layer in the last forward pass."]
                pub #names: [<#tys as #krate::Layer>::Output; B],
            )*
            #( #saved: ::core::option::Option<<#tys as #krate::Layer>::Saved>, )*
            #( #inner_grads: [<#inner_tys as #krate::Layer>::Output; B], )*
            __input_grad: [#input; B],
        }

        #[automatically_derived]
        impl<const B: usize> #workspace<B> {
            /// A workspace of zeros, with no forward pass yet.
            #[must_use]
            pub const fn new() -> Self {
                Self {
                    #( #names: [<<#tys as #krate::Layer>::Output as #krate::Row>::ZERO; B], )*
                    #( #saved: ::core::option::Option::None, )*
                    #( #inner_grads: [<<#inner_tys as #krate::Layer>::Output as #krate::Row>::ZERO; B], )*
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

        #[automatically_derived]
        impl<const B: usize> ::core::default::Default for #workspace<B> {
            #[inline]
            fn default() -> Self {
                Self::new()
            }
        }

        #[doc = #grads_doc]
        #[derive(::core::clone::Clone, ::core::fmt::Debug, ::core::default::Default)]
        #vis struct #grads {
            #(
                #[doc = " Gradients of this layer's parameters."]
                pub #names: <#tys as #krate::Parameters>::Grads,
            )*
        }

        #[automatically_derived]
        impl #krate::Gradients<#t> for #grads {
            const ARRAYS: usize = 0 #( + #arrays )*;

            #[inline]
            fn array(&self, i: usize) -> &[#t] {
                #grad_body
            }

            #[inline]
            fn array_mut(&mut self, i: usize) -> &mut [#t] {
                #grad_body_mut
            }
        }

        #[automatically_derived]
        impl #krate::Parameters for #ident {
            type Scalar = #t;
            type Grads = #grads;

            #[inline]
            fn parameter(&self, i: usize) -> &[#t] {
                #param_body
            }

            #[inline]
            fn parameter_mut(&mut self, i: usize) -> &mut [#t] {
                #param_body_mut
            }

            fn reset_parameters<R: #krate::__private::rand::Rng + ?::core::marker::Sized>(&mut self, rng: &mut R) {
                #( #krate::Parameters::reset_parameters(&mut self.#names, rng); )*
            }
        }

        #[automatically_derived]
        impl #krate::StateDict for #ident {
            type Scalar = #t;

            fn visit_arrays(&self, f: &mut #krate::Visit<'_, #t>) {
                #(
                    #krate::StateDict::visit_arrays(&self.#names, &mut |key, shape, values| {
                        f(&#krate::Key::nested(#keys, key), shape, #visit_values);
                    });
                )*
            }

            fn visit_arrays_mut(&mut self, f: &mut #krate::VisitMut<'_, #t>) {
                #(
                    #krate::StateDict::visit_arrays_mut(&mut self.#names, &mut |key, shape, values| {
                        f(&#krate::Key::nested(#keys, key), shape, #visit_values_mut);
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

        #[automatically_derived]
        impl #krate::Network for #ident {
            type Input = #input;
            type Output = #output;
            type Workspace<const B: usize> = #workspace<B>;
            const MIN_TRAIN_ROWS: usize =
                #krate::__private::max_rows(&[#( <#tys as #krate::Layer>::MIN_TRAIN_ROWS ),*]);
            const MIN_EVAL_ROWS: usize =
                #krate::__private::max_rows(&[#( <#tys as #krate::Layer>::MIN_EVAL_ROWS ),*]);

            fn forward_train<'w, const B: usize>(
                &mut self,
                x: &[#input; B],
                workspace: &'w mut #workspace<B>,
            ) -> ::core::result::Result<&'w [#output; B], #krate::NormError> {
                const {
                    ::core::assert!(B > 0, "empty batch: B must be at least 1");
                    ::core::assert!(
                        B >= <Self as #krate::Network>::MIN_TRAIN_ROWS,
                        "batch too small to train on: a batch norm in this network needs at least 2 rows (one value per channel has no variance)"
                    );
                }
                #( workspace.#saved = ::core::option::Option::None; )*
                #train
                ::core::result::Result::Ok(&workspace.#last_name)
            }

            fn forward_eval<'w, const B: usize>(
                &self,
                x: &[#input; B],
                workspace: &'w mut #workspace<B>,
            ) -> ::core::result::Result<&'w [#output; B], #krate::NormError> {
                const {
                    ::core::assert!(B > 0, "empty batch: B must be at least 1");
                    ::core::assert!(
                        B >= <Self as #krate::Network>::MIN_EVAL_ROWS,
                        "batch too small: a batch norm without running statistics in this network needs at least 2 rows in inference too"
                    );
                }
                #( workspace.#saved = ::core::option::Option::None; )*
                #eval
                ::core::result::Result::Ok(&workspace.#last_name)
            }

            fn backward<'w, const B: usize>(
                &self,
                x: &[#input; B],
                workspace: &'w mut #workspace<B>,
                dy: &[#output; B],
                grads: &mut #grads,
            ) -> ::core::result::Result<&'w [#input; B], #krate::NormError> {
                #(
                    let #saved_vars = workspace.#saved.as_ref().ok_or(#krate::NormError::NoForwardPass)?;
                )*
                #backward
                ::core::result::Result::Ok(&workspace.__input_grad)
            }
        }
    }
}
