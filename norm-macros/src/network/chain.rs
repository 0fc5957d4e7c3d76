//! The chain of layers: a trait per connection, and the forward and backward
//! passes through them (the `Network` impl).

use super::names::{Access, Net};
use proc_macro2::{Ident, Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::ext::IdentExt;
use syn::spanned::Spanned;

/// One trait per connection, so a size mismatch is one error that names
/// both fields and shows both row types.
pub fn connections(net: &Net) -> TokenStream {
    let mut out: TokenStream = net
        .chain
        .iter()
        .skip(1)
        .map(|k| connection(net, *k))
        .collect();
    if let Some(residual) = &net.residual {
        let last = net.names[net.last()].unraw();
        let (message, label, note) = if let Some(s) = net.shortcut {
            let s = net.names[s].unraw();
            (
                format!(
                    "`{}` adds its shortcut `{s}` to its last layer `{last}`, so both must output one shape: `{last}` outputs `{{Self}}` per example, `{s}` outputs `{{In}}`",
                    net.ident
                ),
                format!("`{s}` outputs `{{In}}`, `{last}` outputs `{{Self}}`"),
                "a residual network with a #[shortcut] is `y = f(x) + shortcut(x)`",
            )
        } else {
            (
                format!(
                    "`{}` is residual (`y = x + f(x)`), so its last layer `{last}` must output its input's shape: `{last}` outputs `{{Self}}` per example, the input is `{{In}}`",
                    net.ident
                ),
                format!("`{last}` outputs `{{Self}}`, the input is `{{In}}`"),
                "a residual network adds its input to its last layer's output",
            )
        };
        out.extend(cast_trait(residual, &message, &label, note));
    }
    out
}

/// The trait between layer `k` and the one before it in the chain:
/// implemented only where the output row of one is the input row of the
/// other, and then a no-op cast.
fn connection(net: &Net, k: usize) -> TokenStream {
    let Some((p, Some(trait_ident))) = net.prev(k).map(|p| (p, &net.connections[k])) else {
        return TokenStream::new();
    };
    let (prev, next) = (net.names[p].unraw(), net.names[k].unraw());
    let ident = net.ident;
    let message = format!(
        "layer `{next}` cannot follow `{prev}` in `{ident}`: `{prev}` outputs `{{Self}}` per example, but `{next}` takes `{{In}}`"
    );
    let label = format!("`{next}` takes `{{In}}`, but `{prev}` outputs `{{Self}}`");
    let note = format!(
        "each field of a #[network] struct takes the previous field's output: make `{prev}`'s output size and `{next}`'s input size (and scalar type) match"
    );
    cast_trait(trait_ident, &message, &label, &note)
}

/// A trait implemented only for `In` itself, as a no-op cast between arrays
/// of rows, whose unmet bound is the error `message`.
fn cast_trait(trait_ident: &Ident, message: &str, label: &str, note: &str) -> TokenStream {
    quote! {
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
    }
}

/// `<<Prev as Layer>::Output as Connection<<Next as Layer>::Input>>`: the
/// output row of the layer before `k` in the chain seen through the
/// connection into layer `k`, spanned at layer `k`'s type so a mismatch
/// points at it.
fn through_connection(net: &Net, k: usize, prev: usize) -> TokenStream {
    let (ty, prev_ty) = (net.tys[k], net.tys[prev]);
    let tr = net.connections[k].as_ref();
    let (prev_layer, layer) = (net.layer_trait(prev), net.layer_trait(k));
    quote_spanned! {ty.span()=>
        <<#prev_ty as #prev_layer>::Output as #tr<<#ty as #layer>::Input>>
    }
}

/// The input of layer `k` in the workspace: the network's input `x` (for the
/// first layer and the shortcut), or the previous layer's output.
fn input_of(net: &Net, k: usize) -> TokenStream {
    let Some(prev) = net.prev(k) else {
        return quote!(x);
    };
    let (prev_name, ty, conn) = (
        net.names[prev],
        net.tys[k],
        through_connection(net, k, prev),
    );
    // `workspace` keeps the call-site span: spanned at a type that came
    // through a `macro_rules!` fragment, it would take that macro's
    // hygiene and not name the generated local.
    let workspace = quote!(workspace);
    quote_spanned! {ty.span()=> #conn::cast(&#workspace.#prev_name) }
}

/// Where layer `k`'s backward writes the gradient of its input: the
/// network's input gradient (the shortcut: its own buffer), or the previous
/// layer's output gradient buffer.
fn input_grad_of(net: &Net, k: usize) -> TokenStream {
    if net.shortcut == Some(k) {
        return quote!(&mut workspace.__shortcut_grad);
    }
    let Some(prev) = net.prev(k) else {
        return quote!(&mut workspace.__input_grad);
    };
    let (g, ty, conn) = (
        &net.grad_bufs[prev],
        net.tys[k],
        through_connection(net, k, prev),
    );
    let workspace = quote!(workspace);
    quote_spanned! {ty.span()=> #conn::cast_mut(&mut #workspace.#g) }
}

/// Training or inference: the two forward passes differ only in these.
#[derive(Clone, Copy)]
enum Pass {
    /// `forward_train_deferred`: the training pass, with every layer's
    /// state update left for `commit_train`.
    Train,
    Eval,
}

impl Pass {
    /// The method of `Network` and of `Layer`.
    fn method(self) -> Ident {
        let name = match self {
            Pass::Train => "forward_train_deferred",
            Pass::Eval => "forward_eval",
        };
        Ident::new(name, Span::call_site())
    }

    /// The constant of `Network` and of `Layer`: the fewest rows a batch may
    /// have in this pass.
    fn min_rows(self) -> Ident {
        let name = match self {
            Pass::Train => "MIN_TRAIN_ROWS",
            Pass::Eval => "MIN_EVAL_ROWS",
        };
        Ident::new(name, Span::call_site())
    }

    /// How the network and its layers are borrowed: training updates
    /// running statistics.
    fn access(self) -> Access {
        match self {
            Pass::Train => Access::Mut,
            Pass::Eval => Access::Shared,
        }
    }

    /// The compile error for a batch smaller than [`Pass::min_rows`].
    fn too_small(self) -> TokenStream {
        match self {
            Pass::Train => quote!(
                "batch too small to train on: a batch norm in this network needs at least 2 rows (one value per channel has no variance)"
            ),
            Pass::Eval => quote!(
                "batch too small: a batch norm without running statistics in this network needs at least 2 rows in inference too"
            ),
        }
    }
}

/// `const MIN_TRAIN_ROWS` (or `MIN_EVAL_ROWS`): the most any layer needs.
fn min_rows(net: &Net, pass: Pass) -> TokenStream {
    let Net { krate, tys, .. } = net;
    let min_rows = pass.min_rows();
    let traits = (0..tys.len()).map(|k| net.layer_trait(k));
    quote! {
        const #min_rows: usize =
            #krate::__private::max_rows(&[#( <#tys as #traits>::#min_rows ),*]);
    }
}

/// `const EVAL_PER_ROW`: whether every layer computes each row alone in
/// inference, so that `forward_eval_slice` may run in tiles of rows.
/// With `const LARGEST_ROW_BYTES`, what sizes those tiles.
fn eval_per_row(net: &Net) -> TokenStream {
    let (krate, tys) = (net.krate, &net.tys);
    let traits = (0..tys.len()).map(|k| net.layer_trait(k));
    let rows = (0..tys.len()).map(|k| {
        let (ty, out) = (tys[k], net.out_ty(k));
        let row = quote!(::core::mem::size_of::<#out>());
        if net.nested[k] {
            quote!(#row, <#ty as #krate::Network>::LARGEST_ROW_BYTES)
        } else {
            row
        }
    });
    quote! {
        const EVAL_PER_ROW: bool = true #( && <#tys as #traits>::EVAL_PER_ROW )*;
        const LARGEST_ROW_BYTES: usize = #krate::__private::max_rows(&[#(#rows),*]);
    }
}

/// `forward_train` or `forward_eval`: each layer in order, from `x` or the
/// previous layer's output into its own output in the workspace.
fn forward(net: &Net, pass: Pass) -> TokenStream {
    let Net {
        krate,
        input,
        output,
        workspace,
        ..
    } = net;
    let (method, min_rows, receiver, too_small) = (
        pass.method(),
        pass.min_rows(),
        pass.access().borrow(),
        pass.too_small(),
    );
    let resets = layer_saved(net);
    let steps = net
        .chain
        .iter()
        .chain(&net.shortcut)
        .map(|k| forward_step(net, pass, *k));
    let (finish, result) = pass_output(net);
    // The deferred pass is reached through `forward_train`, which asserts
    // the size once (a second assertion here would repeat the error); called
    // directly with too small a batch, its layers refuse it at run time.
    let size_check = match pass {
        Pass::Train => TokenStream::new(),
        Pass::Eval => quote! {
            const {
                ::core::assert!(B > 0, "empty batch: B must be at least 1");
                ::core::assert!(
                    B >= <Self as #krate::Network>::#min_rows,
                    #too_small
                );
            }
        },
    };
    quote! {
        fn #method<'w, const B: usize>(
            #receiver self,
            x: &[#input; B],
            workspace: &'w mut #workspace<B>,
        ) -> ::core::result::Result<&'w [#output; B], #krate::NormError> {
            #size_check
            #( workspace.#resets = ::core::option::Option::None; )*
            #(#steps)*
            #finish
            ::core::result::Result::Ok(#result)
        }
    }
}

/// The last step of a forward pass (a residual network's sum) and where its
/// output then is in the workspace.
fn pass_output(net: &Net) -> (TokenStream, TokenStream) {
    let (krate, names, input) = (net.krate, &net.names, &net.input);
    let last = names[net.last()];
    match (&net.residual, net.shortcut) {
        (None, _) => (TokenStream::new(), quote!(&workspace.#last)),
        (Some(residual), Some(s)) => {
            let (out, s_out, s) = (net.out_ty(net.last()), net.out_ty(s), names[s]);
            (
                quote! {
                    #krate::__private::residual_add(
                        &workspace.#s,
                        <#out as #residual<#s_out>>::cast(&workspace.#last),
                        <#out as #residual<#s_out>>::cast_mut(&mut workspace.__residual),
                    );
                },
                quote!(&workspace.__residual),
            )
        }
        (Some(residual), None) => {
            let out = net.out_ty(net.last());
            (
                quote! {
                    #krate::__private::residual_add(
                        x,
                        <#out as #residual<#input>>::cast(&workspace.#last),
                        <#out as #residual<#input>>::cast_mut(&mut workspace.__residual),
                    );
                },
                quote!(&workspace.__residual),
            )
        }
    }
}

/// The workspace fields of what the layers (not the nested networks) saved,
/// which a forward pass clears before it runs.
fn layer_saved<'n>(net: &'n Net) -> impl Iterator<Item = &'n Ident> {
    net.layers().map(|k| &net.saved[k])
}

/// `forward_eval_rows`: `forward_eval` on the first `x.len()` rows of the
/// workspace, every layer called on those rows only (a layer takes a slice
/// of any length), a nested network through its own `forward_eval_rows`.
fn forward_rows(net: &Net) -> TokenStream {
    let Net {
        krate,
        input,
        output,
        workspace,
        names,
        ..
    } = net;
    let resets = layer_saved(net);
    let steps = net.chain.iter().chain(&net.shortcut).map(|&k| {
        let (name, ty) = (net.names[k], net.tys[k]);
        let x = input_of(net, k);
        if net.nested[k] {
            let ws = &net.workspaces[k];
            return quote! {
                let out = <#ty as #krate::Network>::forward_eval_rows(&self.#name, &(#x)[..n], &mut workspace.#ws)?;
                workspace.#name[..n].copy_from_slice(out);
            };
        }
        let saved = &net.saved[k];
        quote! {
            workspace.#saved = ::core::option::Option::Some(
                <#ty as #krate::Layer>::forward_eval(&self.#name, &(#x)[..n], &mut workspace.#name[..n])?,
            );
        }
    });
    let last = names[net.last()];
    let finish = match (&net.residual, net.shortcut) {
        (None, _) => quote!(::core::result::Result::Ok(&workspace.#last[..n])),
        (Some(residual), None) => {
            let out = net.out_ty(net.last());
            quote! {
                #krate::__private::residual_add_rows(
                    x,
                    <#out as #residual<#input>>::cast(&workspace.#last),
                    <#out as #residual<#input>>::cast_mut(&mut workspace.__residual),
                );
                ::core::result::Result::Ok(&workspace.__residual[..n])
            }
        }
        (Some(residual), Some(s)) => {
            let (out, s_out, s) = (net.out_ty(net.last()), net.out_ty(s), names[s]);
            quote! {
                #krate::__private::residual_add_rows(
                    &workspace.#s[..n],
                    <#out as #residual<#s_out>>::cast(&workspace.#last),
                    <#out as #residual<#s_out>>::cast_mut(&mut workspace.__residual),
                );
                ::core::result::Result::Ok(&workspace.__residual[..n])
            }
        }
    };
    quote! {
        fn forward_eval_rows<'w, const B: usize>(
            &self,
            x: &[#input],
            workspace: &'w mut #workspace<B>,
        ) -> ::core::result::Result<&'w [#output], #krate::NormError> {
            let n = x.len();
            if n > B {
                return ::core::result::Result::Err(#krate::NormError::RowCountMismatch {
                    argument: "x",
                    expected: B,
                    found: n,
                });
            }
            #( workspace.#resets = ::core::option::Option::None; )*
            #(#steps)*
            #finish
        }
    }
}

/// `forward_train`: the deferred pass, then every layer's commit, so a
/// refusal anywhere in the chain leaves every layer unchanged.
fn forward_train(net: &Net) -> TokenStream {
    let Net {
        krate,
        input,
        output: out,
        workspace,
        ..
    } = net;
    let too_small = Pass::Train.too_small();
    let (_, result) = pass_output(net);
    quote! {
        fn forward_train<'w, const B: usize>(
            &mut self,
            x: &[#input; B],
            workspace: &'w mut #workspace<B>,
        ) -> ::core::result::Result<&'w [#out; B], #krate::NormError> {
            const {
                ::core::assert!(B > 0, "empty batch: B must be at least 1");
                ::core::assert!(
                    B >= <Self as #krate::Network>::MIN_TRAIN_ROWS,
                    #too_small
                );
            }
            <Self as #krate::Network>::forward_train_deferred(self, x, workspace)?;
            <Self as #krate::Network>::commit_train(self, x, workspace);
            let workspace: &'w #workspace<B> = workspace;
            ::core::result::Result::Ok(#result)
        }
    }
}

/// `commit_train`: each layer's state update of the deferred pass, in
/// chain order; a nested network commits its own layers.
fn commit(net: &Net) -> TokenStream {
    let Net {
        krate,
        input,
        workspace,
        ..
    } = net;
    let steps = net.chain.iter().chain(&net.shortcut).map(|&k| {
        let (name, ty) = (net.names[k], net.tys[k]);
        let x = input_of(net, k);
        if net.nested[k] {
            let ws = &net.workspaces[k];
            quote! {
                <#ty as #krate::Network>::commit_train(&mut self.#name, #x, &workspace.#ws);
            }
        } else {
            let saved = &net.saved[k];
            quote! {
                if let ::core::option::Option::Some(saved) = &workspace.#saved {
                    <#ty as #krate::Layer>::commit_train(&mut self.#name, #x, saved);
                }
            }
        }
    });
    quote! {
        fn commit_train<const B: usize>(&mut self, x: &[#input; B], workspace: &#workspace<B>) {
            #(#steps)*
        }
    }
}

/// Layer `k`'s forward call: a layer writes its output and saves what its
/// backward needs; a nested network runs in its own workspace, and its
/// output is copied into this one's.
fn forward_step(net: &Net, pass: Pass, k: usize) -> TokenStream {
    let (krate, name, ty) = (net.krate, net.names[k], net.tys[k]);
    let (method, receiver) = (pass.method(), pass.access().borrow());
    let x = input_of(net, k);
    if net.nested[k] {
        let ws = &net.workspaces[k];
        // Copied as a slice, never as an array value: `= *out` makes a
        // temporary of the whole batch on the stack in debug builds.
        return quote! {
            let out = <#ty as #krate::Network>::#method(#receiver self.#name, #x, &mut workspace.#ws)?;
            workspace.#name.copy_from_slice(out);
        };
    }
    let saved = &net.saved[k];
    quote! {
        workspace.#saved = ::core::option::Option::Some(
            <#ty as #krate::Layer>::#method(#receiver self.#name, #x, &mut workspace.#name)?,
        );
    }
}

/// `backward`: each layer in reverse, from the gradient of its output (the
/// caller's `dy` for the last) to the gradient of its input.
fn backward(net: &Net) -> TokenStream {
    let Net {
        krate,
        input,
        output,
        workspace,
        grads,
        saved,
        saved_vars,
        ..
    } = net;
    let layers: Vec<usize> = net.layers().collect();
    let (saved, saved_vars) = (
        layers.iter().map(|k| &saved[*k]),
        layers.iter().map(|k| &saved_vars[*k]),
    );
    let steps = net
        .chain
        .iter()
        .rev()
        .chain(&net.shortcut)
        .map(|k| backward_step(net, *k));
    // y = x + f(x): dy reaches the input directly too; y = g(x) + f(x):
    // through the shortcut's backward.
    let skip = net.residual.as_ref().map(|residual| match net.shortcut {
        Some(_) => quote! {
            #krate::__private::add_assign(&mut workspace.__input_grad, &workspace.__shortcut_grad);
        },
        None => {
            let out = net.out_ty(net.last());
            quote! {
                #krate::__private::add_assign(&mut workspace.__input_grad, <#out as #residual<#input>>::cast(dy));
            }
        }
    });
    quote! {
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
            #(#steps)*
            #skip
            ::core::result::Result::Ok(&workspace.__input_grad)
        }
    }
}

/// Layer `k`'s backward call.
fn backward_step(net: &Net, k: usize) -> TokenStream {
    let (krate, name, ty) = (net.krate, net.names[k], net.tys[k]);
    let x = input_of(net, k);
    let dy = if k == net.last() {
        quote!(dy)
    } else if let (Some(residual), true) = (&net.residual, net.shortcut == Some(k)) {
        // The shortcut's output gradient is the network's, seen in its own
        // output type (the same one, or the error of `pass_output`).
        let (out, s_out) = (net.out_ty(net.last()), net.out_ty(k));
        quote!(<#out as #residual<#s_out>>::cast(dy))
    } else {
        let g = &net.grad_bufs[k];
        quote!(&workspace.#g)
    };
    let dx = input_grad_of(net, k);
    if net.nested[k] {
        let ws = &net.workspaces[k];
        return quote! {
            let dx = <#ty as #krate::Network>::backward(&self.#name, #x, &mut workspace.#ws, #dy, &mut grads.#name)?;
            (#dx).copy_from_slice(dx);
        };
    }
    let s = &net.saved_vars[k];
    quote! {
        <#ty as #krate::Layer>::backward(&self.#name, #x, #s, #dy, #dx, &mut grads.#name)?;
    }
}

pub fn network_impl(net: &Net) -> TokenStream {
    let Net {
        krate,
        ident,
        input,
        output,
        workspace,
        ..
    } = net;
    let passes = [Pass::Train, Pass::Eval];
    let min_rows = passes.map(|pass| min_rows(net, pass));
    let forwards = passes.map(|pass| forward(net, pass));
    let rows = forward_rows(net);
    let per_row = eval_per_row(net);
    let (train, commit) = (forward_train(net), commit(net));
    let backward = backward(net);
    quote! {
        #[automatically_derived]
        impl #krate::Network for #ident {
            type Input = #input;
            type Output = #output;
            type Workspace<const B: usize> = #workspace<B>;
            #(#min_rows)*
            #per_row

            #train

            #(#forwards)*

            #rows

            #commit

            #backward
        }
    }
}
