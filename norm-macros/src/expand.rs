//! Expand: the validated configuration into the layer's struct and impls.

use crate::args::Kind;
use crate::errors::Errors;
use crate::item::Target;
use crate::valid::Config;
use crate::{args, item, valid};
use proc_macro2::{Literal, TokenStream};
use quote::{format_ident, quote};

/// The whole pipeline: parse the attribute and the item, validate, expand.
/// On any error, every error is reported and the item is emitted unchanged, so
/// the rest of the user's code does not drown in follow-up errors.
pub fn normalize(attr: TokenStream, input: TokenStream) -> TokenStream {
    let mut errors = Errors::default();
    let args = args::parse(attr, &mut errors);
    let target = item::parse(input.clone(), &mut errors);
    let config = valid::validate(args, &mut errors);
    match (errors.finish(), config, target) {
        (Ok(()), Some(config), Some(target)) => layer(&config, &target),
        (Err(e), ..) => fallback(input, &e),
        (Ok(()), ..) => fallback(
            input,
            &syn::Error::new(
                proc_macro2::Span::call_site(),
                "internal error in #[normalize]: invalid input without an error message; please report it",
            ),
        ),
    }
}

fn fallback(input: TokenStream, error: &syn::Error) -> TokenStream {
    let errors = error.to_compile_error();
    quote! { #errors #input }
}

fn layer(config: &Config, target: &Target) -> TokenStream {
    let Target { attrs, vis, ident } = target;
    let cfgs: Vec<_> = target.cfgs().collect();
    let krate = &config.krate;
    let t = format_ident!("{}", config.dtype.name());
    let n = Literal::usize_unsuffixed(config.dims);
    let eps = Literal::f64_suffixed(config.eps);
    let doc = docs(config);
    let private = quote!(#krate::__private);
    let affine = quote! {
        #private::Affine {
            weight: ::core::option::Option::Some(&self.weight),
            bias: ::core::option::Option::Some(&self.bias),
        }
    };
    let grads = quote! {
        #private::GradsMut {
            weight: ::core::option::Option::Some(&mut grads.weight),
            bias: ::core::option::Option::Some(&mut grads.bias),
        }
    };
    let result = quote!(::core::result::Result<Self::Saved, #krate::NormError>);
    let sig_train =
        quote!(fn forward_train(&mut self, x: &[Self::Row], y: &mut [Self::Row]) -> #result);
    let sig_eval = quote!(fn forward_eval(&self, x: &[Self::Row], y: &mut [Self::Row]) -> #result);
    let sig_backward = quote! {
        fn backward(
            &self,
            x: &[Self::Row],
            saved: &Self::Saved,
            dy: &[Self::Row],
            dx: &mut [Self::Row],
            grads: &mut Self::Grads,
        ) -> ::core::result::Result<(), #krate::NormError>
    };

    let (fields, init, consts, saved, methods) = match config.kind {
        Kind::Layer => (
            quote!(),
            quote!(),
            quote!(),
            quote!(#krate::LayerSaved),
            quote! {
                #[inline]
                #sig_train {
                    #private::layer::forward(#affine, Self::EPS, #krate::Mode::Train, x, y)
                }
                #[inline]
                #sig_eval {
                    #private::layer::forward(#affine, Self::EPS, #krate::Mode::Eval, x, y)
                }
                #[inline]
                #sig_backward {
                    #private::layer::backward(#affine, Self::EPS, x, saved, dy, dx, #grads)
                }
            },
        ),
        Kind::Batch => {
            let momentum = config.momentum.map_or_else(
                || quote!(::core::option::Option::None),
                |m| {
                    let m = Literal::f64_suffixed(m);
                    quote!(::core::option::Option::Some(#m))
                },
            );
            (
                quote! {
                    /// Running mean of each feature (PyTorch's `running_mean`), used in
                    /// inference; updated by every training pass. Starts at 0.
                    pub running_mean: [#t; #n],
                    /// Running unbiased variance of each feature (PyTorch's `running_var`),
                    /// used in inference; updated by every training pass. Starts at 1.
                    pub running_var: [#t; #n],
                    /// Training passes seen (PyTorch's `num_batches_tracked`). Starts at 0.
                    pub num_batches_tracked: u64,
                },
                quote! {
                    running_mean: [0.0; #n],
                    running_var: [1.0; #n],
                    num_batches_tracked: 0,
                },
                quote! {
                    /// The weight of the newest batch in the running statistics
                    /// (PyTorch's `momentum`); `None` is a cumulative moving average.
                    pub const MOMENTUM: ::core::option::Option<f64> = #momentum;
                },
                quote!(#krate::BatchSaved<#t, #n>),
                quote! {
                    const MIN_TRAIN_ROWS: usize = 2;

                    #[inline]
                    #sig_train {
                        #private::batch::forward_train(
                            #affine,
                            ::core::option::Option::Some(#private::Running {
                                mean: &mut self.running_mean,
                                var: &mut self.running_var,
                                num_batches_tracked: &mut self.num_batches_tracked,
                            }),
                            Self::EPS,
                            Self::MOMENTUM,
                            x,
                            y,
                        )
                    }
                    #[inline]
                    #sig_eval {
                        #private::batch::forward_eval(
                            #affine,
                            ::core::option::Option::Some((&self.running_mean, &self.running_var)),
                            Self::EPS,
                            x,
                            y,
                        )
                    }
                    #[inline]
                    #sig_backward {
                        #private::batch::backward(#affine, x, saved, dy, dx, #grads)
                    }
                },
            )
        }
    };

    quote! {
        #(#attrs)*
        #(#[doc = #doc])*
        #[derive(::core::clone::Clone, ::core::fmt::Debug, ::core::cmp::PartialEq)]
        #vis struct #ident {
            /// Learned scale of each feature (PyTorch's `weight`, gamma). Starts at 1.
            pub weight: [#t; #n],
            /// Learned shift of each feature (PyTorch's `bias`, beta). Starts at 0.
            pub bias: [#t; #n],
            #fields
        }

        #(#cfgs)*
        #[automatically_derived]
        impl #ident {
            /// The number of features normalized.
            pub const DIMS: usize = #n;
            /// Added to the variance inside the square root.
            pub const EPS: f64 = #eps;
            #consts

            /// A layer initialized as PyTorch initializes it: weight 1, bias 0
            /// (and running mean 0, running variance 1).
            #[must_use]
            pub const fn new() -> Self {
                Self {
                    weight: [1.0; #n],
                    bias: [0.0; #n],
                    #init
                }
            }
        }

        #(#cfgs)*
        #[automatically_derived]
        impl ::core::default::Default for #ident {
            #[inline]
            fn default() -> Self {
                Self::new()
            }
        }

        #(#cfgs)*
        #[automatically_derived]
        impl #krate::Normalization for #ident {
            type Scalar = #t;
            type Row = [#t; #n];
            type Saved = #saved;
            type Grads = #krate::AffineGrads<#t, #n>;
            #methods
        }
    }
}

/// The generated doc comment: what the layer is, in PyTorch's terms.
fn docs(config: &Config) -> Vec<String> {
    let Config {
        dims, eps, dtype, ..
    } = config;
    let dtype = dtype.name();
    let torch_dtype = if dtype == "f32" { "float32" } else { "float64" };
    let mut lines = vec![String::new()];
    match config.kind {
        Kind::Layer => lines.extend([
            format!(" **Layer normalization** over {dims} features, `{dtype}`, generated by `#[normalize]`."),
            String::new(),
            format!(" Equivalent to PyTorch's `torch.nn.LayerNorm({dims}, eps={eps:e})` in {torch_dtype}:"),
            " each row is normalized with its own mean and biased variance, in training and".into(),
            " inference alike, then scaled by `weight` and shifted by `bias`.".into(),
        ]),
        Kind::Batch => {
            let momentum = config
                .momentum
                .map_or_else(|| "None".to_owned(), |m| format!("{m}"));
            lines.extend([
                format!(" **Batch normalization** over {dims} features, `{dtype}`, generated by `#[normalize]`."),
                String::new(),
                format!(" Equivalent to PyTorch's `torch.nn.BatchNorm1d({dims}, eps={eps:e}, momentum={momentum})`"),
                format!(" in {torch_dtype} on `(batch, {dims})` input: training normalizes each feature with"),
                " the batch's mean and biased variance and updates `running_mean` and `running_var`;".into(),
                " inference uses the running statistics. Training needs at least 2 rows.".into(),
            ]);
        }
    }
    lines.extend([
        String::new(),
        " Forward and backward passes come from the `Normalization` trait; the".into(),
        format!(
            " configuration is in the constants `DIMS`, `EPS`{}.",
            if config.kind == Kind::Batch {
                " and `MOMENTUM`"
            } else {
                ""
            }
        ),
    ]);
    lines
}
