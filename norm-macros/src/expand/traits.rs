//! The trait impls: `Layer`, `Normalization`, `Parameters`, `StateDict`
//! and serde, and the generated doc comment.

use super::kernel::{self, Calls};
use super::layout::Gen;
use crate::kind::{Kernel, Spelled};
use crate::valid::Config;
use proc_macro2::{Ident, Literal, TokenStream};
use quote::{format_ident, quote};

/// The trainable parameters, in `Parameters` order.
fn parameters(c: &Config) -> Vec<Ident> {
    present(&[("weight", c.affine), ("bias", c.bias)])
}

/// Every array of the state dict: the parameters, then the running
/// statistics.
fn arrays(c: &Config) -> Vec<Ident> {
    let mut all = parameters(c);
    all.extend(present(&[
        ("running_mean", c.track),
        ("running_var", c.track),
    ]));
    all
}

/// The integer counters of the state dict.
fn counters(c: &Config) -> Vec<Ident> {
    present(&[("num_batches_tracked", c.track)])
}

fn present(names: &[(&str, bool)]) -> Vec<Ident> {
    names
        .iter()
        .filter(|(_, present)| *present)
        .map(|(name, _)| format_ident!("{name}"))
        .collect()
}

/// The `Grads` type: one accumulator per parameter array.
pub fn grads_type(g: &Gen<'_>) -> TokenStream {
    let (krate, param) = (g.krate, &g.param);
    match (g.config.affine, g.config.bias) {
        (true, true) => quote!(#krate::AffineGrads<#param>),
        (true, false) => quote!(#krate::WeightGrads<#param>),
        (false, _) => quote!(#krate::NoGrads),
    }
}

/// `Serialize` / `Deserialize` when constnorm's own `serde` feature is on.
pub fn serde_impls(g: &Gen<'_>) -> TokenStream {
    let (krate, ident, t, cfgs) = (g.krate, g.ident(), &g.t, &g.cfgs);
    let (arrays, counters) = (arrays(g.config), counters(g.config));
    quote! {
        #cfgs
        #krate::__impl_serde! { #ident, #t, [#(#arrays),*], [#(#counters),*] }
    }
}

/// `InPlace`, so a `#[network]` holding the layer can be built on the heap
/// (`new_boxed`); the layer itself is per-channel arrays, small enough to
/// write whole.
pub fn in_place_impl(g: &Gen<'_>) -> TokenStream {
    let (private, ident, cfgs) = (&g.private, g.ident(), &g.cfgs);
    quote! {
        #cfgs
        #[automatically_derived]
        // SAFETY: `init_at` writes the whole value, `new()`.
        unsafe impl #private::InPlace for #ident {
            #[inline]
            unsafe fn init_at(p: *mut Self) {
                // SAFETY: the caller's `p` is valid for writes and aligned.
                unsafe { p.write(Self::new()) }
            }
        }
    }
}

pub fn state_dict_impl(g: &Gen<'_>) -> TokenStream {
    let (krate, ident, t, cfgs) = (g.krate, g.ident(), &g.t, &g.cfgs);
    let (arrays, counters) = (arrays(g.config), counters(g.config));
    let key = |name: &Ident| quote!(&#krate::Key::leaf(::core::stringify!(#name)));
    let (array_keys, counter_keys): (Vec<_>, Vec<_>) = (
        arrays.iter().map(key).collect(),
        counters.iter().map(key).collect(),
    );
    quote! {
        #cfgs
        #[automatically_derived]
        impl #krate::StateDict for #ident {
            type Scalar = #t;

            #[inline]
            fn visit_arrays(&self, f: &mut #krate::Visit<'_, #t>) {
                #( f(#array_keys, #krate::__private::shape_of(&self.#arrays), #krate::Row::as_flat(&self.#arrays)); )*
                let _ = f;
            }

            #[inline]
            fn visit_arrays_mut(&mut self, f: &mut #krate::VisitMut<'_, #t>) {
                #( f(#array_keys, #krate::__private::shape_of(&self.#arrays), #krate::Row::as_flat_mut(&mut self.#arrays)); )*
                let _ = f;
            }

            #[inline]
            fn visit_counters(&self, f: &mut #krate::VisitCounter<'_>) {
                #( f(#counter_keys, self.#counters); )*
                let _ = f;
            }

            #[inline]
            fn visit_counters_mut(&mut self, f: &mut #krate::VisitCounterMut<'_>) {
                #( f(#counter_keys, &mut self.#counters); )*
                let _ = f;
            }
        }
    }
}

pub fn parameters_impl(g: &Gen<'_>) -> TokenStream {
    let (krate, ident, t, cfgs) = (g.krate, g.ident(), &g.t, &g.cfgs);
    let params = parameters(g.config);
    let index: Vec<_> = (0..params.len()).map(Literal::usize_unsuffixed).collect();
    let grads = grads_type(g);
    quote! {
        #cfgs
        #[automatically_derived]
        impl #krate::Parameters for #ident {
            type Scalar = #t;
            type Grads = #grads;

            #[inline]
            fn parameter(&self, i: usize) -> &[#t] {
                match i {
                    #( #index => #krate::Row::as_flat(&self.#params), )*
                    _ => &[],
                }
            }

            #[inline]
            fn parameter_mut(&mut self, i: usize) -> &mut [#t] {
                match i {
                    #( #index => #krate::Row::as_flat_mut(&mut self.#params), )*
                    _ => &mut [],
                }
            }

            #[inline]
            fn reset_parameters<R: #krate::__private::rand::Rng + ?::core::marker::Sized>(&mut self, _rng: &mut R) {
                *self = Self::new();
            }
        }
    }
}

pub fn normalization_impl(g: &Gen<'_>) -> TokenStream {
    let (krate, ident, row, cfgs) = (g.krate, g.ident(), &g.row, &g.cfgs);
    quote! {
        #cfgs
        #[automatically_derived]
        impl #krate::Normalization for #ident {
            type Row = #row;
        }
    }
}

/// The smallest batches, `(train, eval)`: batch norm needs 2 values per
/// channel to train (and, without running statistics, in inference too).
fn min_rows(g: &Gen<'_>) -> (TokenStream, TokenStream) {
    let one = quote!(1);
    match g.config.kind.kernel(g.config.track) {
        Kernel::Batch => {
            let train = match g.spatial_size() {
                Some(s) if s < 2 => quote!(2),
                Some(_) => one.clone(),
                None => quote!(if Self::SPATIAL_SIZE < 2 { 2 } else { 1 }),
            };
            let eval = if g.config.track { one } else { train.clone() };
            (train, eval)
        }
        Kernel::Rows { .. } | Kernel::TrackedInstance => (one.clone(), one),
    }
}

pub fn layer_impl(g: &Gen<'_>) -> TokenStream {
    let (krate, ident, row, cfgs) = (g.krate, g.ident(), &g.row, &g.cfgs);
    let Calls {
        saved,
        train,
        eval,
        backward,
        deferred,
    } = kernel::calls(g);
    let result = quote!(::core::result::Result<Self::Saved, #krate::NormError>);
    let deferred = deferred.map(|(forward, commit)| {
        quote! {
            #[inline]
            fn forward_train_deferred(&mut self, x: &[#row], y: &mut [#row]) -> #result {
                #forward
            }

            #[inline]
            fn commit_train(&mut self, x: &[#row], saved: &Self::Saved) {
                #commit
            }
        }
    });
    let (min_train, min_eval) = min_rows(g);
    // Inference normalizes a row by itself or with running statistics, but
    // for a batch norm without them (the batch's statistics).
    let per_row = match g.config.kind.kernel(g.config.track) {
        Kernel::Batch => g.config.track,
        Kernel::Rows { .. } | Kernel::TrackedInstance => true,
    };
    quote! {
        #cfgs
        #[automatically_derived]
        impl #krate::Layer for #ident {
            type Input = #row;
            type Output = #row;
            type Saved = #saved;
            const MIN_TRAIN_ROWS: usize = #min_train;
            const MIN_EVAL_ROWS: usize = #min_eval;
            const EVAL_PER_ROW: bool = #per_row;

            #[inline]
            fn forward_train(&mut self, x: &[#row], y: &mut [#row]) -> #result {
                #train
            }

            #deferred

            #[inline]
            fn forward_eval(&self, x: &[#row], y: &mut [#row]) -> #result {
                #eval
            }

            #[inline]
            fn backward(
                &self,
                x: &[#row],
                saved: &Self::Saved,
                dy: &[#row],
                dx: &mut [#row],
                grads: &mut Self::Grads,
            ) -> ::core::result::Result<(), #krate::NormError> {
                #backward
            }
        }
    }
}

/// The generated doc comment: what the layer is, in PyTorch's terms.
pub fn docs(c: &Config) -> Vec<String> {
    let dtype = c.dtype.name();
    let torch_dtype = match c.dtype {
        crate::args::Dtype::F32 => "float32",
        crate::args::Dtype::F64 => "float64",
    };
    let spelled = Spelled {
        shape: c.shape_text(),
        channels: c.dims[0].to_string(),
        spatial: c.spatial.iter().map(ToString::to_string).collect(),
        groups: c.groups.to_string(),
        eps: c.eps,
        momentum: c.momentum,
        affine: c.affine,
        bias: c.bias,
        track: c.track,
    };
    let d = c.kind.describe(&spelled);
    vec![
        String::new(),
        format!(" {}, `{dtype}`, generated by `#[normalize]`.", d.title),
        String::new(),
        format!(
            " Equivalent to PyTorch's `{}` in {torch_dtype}: {}.",
            d.torch, d.what
        ),
        String::new(),
        " Forward and backward passes come from the `Layer` trait; the".into(),
        " configuration is in the associated constants.".into(),
    ]
}
