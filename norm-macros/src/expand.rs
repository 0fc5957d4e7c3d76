//! Expand: the validated configuration into the layer's struct and impls.

use crate::args::Kind;
use crate::errors::{Errors, fallback, internal};
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
        (Ok(()), ..) => fallback(input, &internal("normalize")),
    }
}

/// `[[T; B]; A]` for the shape `[A, B]`.
fn nested(t: &TokenStream, shape: &[usize]) -> TokenStream {
    shape.iter().rev().fold(t.clone(), |inner, &d| {
        let d = Literal::usize_unsuffixed(d);
        quote!([#inner; #d])
    })
}

/// `[[v; B]; A]`: an array of the shape filled with `v`.
fn filled(v: &TokenStream, shape: &[usize]) -> TokenStream {
    nested(v, shape)
}

fn usize_list(values: &[usize]) -> TokenStream {
    let values = values.iter().map(|v| Literal::usize_unsuffixed(*v));
    quote!([#(#values),*])
}

fn layer(config: &Config, target: &Target) -> TokenStream {
    let Target { attrs, vis, ident } = target;
    let cfgs: Vec<_> = target.cfgs().collect();
    let krate = &config.krate;
    let private = quote!(#krate::__private);
    let t = {
        let t = format_ident!("{}", config.dtype.name());
        quote!(#t)
    };
    let kind = config.kind;

    // Shapes: a row, and the parameters (one per value, or one per channel).
    let (row_shape, param_shape): (Vec<usize>, Vec<usize>) = if kind.has_channels() {
        let mut row = vec![config.channels()];
        row.extend(&config.spatial);
        (row, vec![config.channels()])
    } else {
        (config.dims.clone(), config.dims.clone())
    };
    let row_ty = nested(&t, &row_shape);
    let param_ty = nested(&t, &param_shape);
    let channels = Literal::usize_unsuffixed(param_shape[0]);
    let channel_ty = quote!([#t; #channels]);
    let spatial = Literal::usize_unsuffixed(config.spatial_size());

    // Fields and their initial values.
    let some = quote!(::core::option::Option::Some);
    let none = quote!(::core::option::Option::None);
    let one = filled(&quote!(1.0), &param_shape);
    let zero = filled(&quote!(0.0), &param_shape);
    let mut fields = TokenStream::new();
    let mut init = TokenStream::new();
    if config.affine {
        fields.extend(quote! {
            /// Learned scale (PyTorch's `weight`, gamma). Starts at 1.
            pub weight: #param_ty,
        });
        init.extend(quote!(weight: #one,));
    }
    if config.bias {
        fields.extend(quote! {
            /// Learned shift (PyTorch's `bias`, beta). Starts at 0.
            pub bias: #param_ty,
        });
        init.extend(quote!(bias: #zero,));
    }
    if config.track {
        fields.extend(quote! {
            /// Running mean of each channel (PyTorch's `running_mean`), used in
            /// inference; updated by every training pass. Starts at 0.
            pub running_mean: #channel_ty,
            /// Running unbiased variance of each channel (PyTorch's `running_var`),
            /// used in inference; updated by every training pass. Starts at 1.
            pub running_var: #channel_ty,
            /// Training passes seen (PyTorch's `num_batches_tracked`). Starts at 0.
            pub num_batches_tracked: u64,
        });
        init.extend(quote! {
            running_mean: [0.0; #channels],
            running_var: [1.0; #channels],
            num_batches_tracked: 0,
        });
    }

    let weight = if config.affine {
        quote!(#some(&self.weight))
    } else {
        none.clone()
    };
    let bias = if config.bias {
        quote!(#some(&self.bias))
    } else {
        none.clone()
    };
    let affine = quote!(#private::Affine::<#param_ty> { weight: #weight, bias: #bias });
    let (grads_ty, grads) = match (config.affine, config.bias) {
        (true, true) => (
            quote!(#krate::AffineGrads<#param_ty>),
            quote!(#private::GradsMut { weight: #some(&mut grads.weight), bias: #some(&mut grads.bias) }),
        ),
        (true, false) => (
            quote!(#krate::WeightGrads<#param_ty>),
            quote!(#private::GradsMut { weight: #some(&mut grads.weight), bias: #none }),
        ),
        _ => (
            quote!(#krate::NoGrads),
            quote!({
                let _: &mut #krate::NoGrads = grads;
                #private::GradsMut::<#param_ty> { weight: #none, bias: #none }
            }),
        ),
    };
    let running_mut = quote! {
        #private::Running {
            mean: &mut self.running_mean,
            var: &mut self.running_var,
            num_batches_tracked: &mut self.num_batches_tracked,
        }
    };
    let running_ref = quote!((&self.running_mean, &self.running_var));
    let train = quote!(#krate::Mode::Train);
    let eval = quote!(#krate::Mode::Eval);

    // The saved statistics and the three kernel calls. The per-example kinds
    // share one kernel, parameterized by its segments per row, values per
    // parameter and centring.
    let rows_kernel = |count: usize, per_param: usize, center: bool| {
        let (count, per_param) = (
            Literal::usize_unsuffixed(count),
            Literal::usize_unsuffixed(per_param),
        );
        let generics = quote!(::<_, #param_ty, #count, #per_param, #center>);
        (
            quote!(#krate::RowSaved),
            quote!(#private::rows::forward #generics (#affine, Self::EPS, #train, x, y)),
            quote!(#private::rows::forward #generics (#affine, Self::EPS, #eval, x, y)),
            quote!(#private::rows::backward #generics (#affine, Self::EPS, x, saved, dy, dx, #grads)),
        )
    };
    // Batch norm across data-parallel workers (PyTorch's SyncBatchNorm).
    let mut sync_methods = TokenStream::new();
    let (saved, train_call, eval_call, backward_call) = match kind {
        Kind::Layer => rows_kernel(1, 1, true),
        Kind::Rms => rows_kernel(1, 1, false),
        Kind::Group => rows_kernel(config.groups, config.spatial_size(), true),
        Kind::Instance if !config.track => {
            rows_kernel(config.channels(), config.spatial_size(), true)
        }
        Kind::Instance => {
            let momentum = Literal::f64_suffixed(config.momentum.unwrap_or(0.0));
            let generics = quote!(::<_, #channels, #spatial>);
            (
                quote!(#krate::InstanceSaved<#t, #channels>),
                quote!(#private::instance::forward_train #generics (#affine, &mut self.running_mean, &mut self.running_var, Self::EPS, #momentum, x, y)),
                quote!(#private::instance::forward_eval(#affine, &self.running_mean, &self.running_var, Self::EPS, x, y)),
                quote!(#private::instance::backward #generics (#affine, Self::EPS, x, saved, dy, dx, #grads)),
            )
        }
        Kind::Batch => {
            let (running_mut, running_ref, momentum) = if config.track {
                (
                    quote!(#some(#running_mut)),
                    quote!(#some(#running_ref)),
                    quote!(Self::MOMENTUM),
                )
            } else {
                (none.clone(), none.clone(), none.clone())
            };
            let stats = quote!(#krate::ChannelStats<#channels>);
            let sums = quote!(#krate::GradSums<#channels>);
            let result = |ok: TokenStream| quote!(::core::result::Result<#ok, #krate::NormError>);
            let (stats_result, saved_result, sums_result, unit_result) = (
                result(stats.clone()),
                result(quote!(#krate::BatchSaved<#t, #channels>)),
                result(sums.clone()),
                result(quote!(())),
            );
            sync_methods.extend(quote! {
                /// Data-parallel training, step 1 of 4: this shard's per-channel
                /// statistics. Merge every worker's with `ChannelStats::merge`
                /// (an all-reduce), then call `forward_train_synced`.
                ///
                /// # Errors
                /// `NormError::EmptyBatch` for an empty shard.
                #[inline]
                pub fn shard_stats(&self, x: &[#row_ty]) -> #stats_result {
                    #private::batch::shard_stats(x)
                }

                /// Data-parallel training, step 2 of 4: the training forward pass
                /// on this shard with the whole batch's statistics (`global`);
                /// updates the running statistics as a single worker would.
                ///
                /// # Errors
                /// As `forward_train`; nothing is changed on error.
                #[inline]
                pub fn forward_train_synced(&mut self, x: &[#row_ty], y: &mut [#row_ty], global: &#stats) -> #saved_result {
                    #private::batch::forward_train_global(#affine, #running_mut, Self::EPS, #momentum, global, x, y)
                }

                /// Data-parallel training, step 3 of 4: this shard's gradient sums.
                /// Merge every worker's with `GradSums::merge`, then call
                /// `backward_synced`.
                ///
                /// # Errors
                /// As `backward`.
                #[inline]
                pub fn shard_grad_sums(&self, x: &[#row_ty], saved: &#krate::BatchSaved<#t, #channels>, dy: &[#row_ty]) -> #sums_result {
                    #private::batch::shard_grad_sums(x, saved, dy)
                }

                /// Data-parallel training, step 4 of 4: this shard's `dx` from the
                /// whole batch's gradient sums, and `+=` this shard's parameter
                /// gradients (sum those across workers, as for any parameter).
                ///
                /// # Errors
                /// As `backward`; nothing is written on error.
                #[inline]
                pub fn backward_synced(
                    &self,
                    x: &[#row_ty],
                    saved: &#krate::BatchSaved<#t, #channels>,
                    global: &#sums,
                    dy: &[#row_ty],
                    dx: &mut [#row_ty],
                    grads: &mut #grads_ty,
                ) -> #unit_result {
                    #private::batch::backward_global(#affine, x, saved, global, dy, dx, #grads)
                }
            });
            (
                quote!(#krate::BatchSaved<#t, #channels>),
                quote!(#private::batch::forward_train(#affine, #running_mut, Self::EPS, #momentum, x, y)),
                quote!(#private::batch::forward_eval(#affine, #running_ref, Self::EPS, x, y)),
                quote!(#private::batch::backward(#affine, x, saved, dy, dx, #grads)),
            )
        }
    };

    // Smallest batches: batch norm needs 2 values per channel to train (and,
    // without running statistics, in inference too).
    let min_rows = if kind == Kind::Batch && config.spatial_size() < 2 {
        2
    } else {
        1
    };
    let min_train = Literal::usize_unsuffixed(min_rows);
    let min_eval = Literal::usize_unsuffixed(if config.track || kind != Kind::Batch {
        1
    } else {
        min_rows
    });

    // Constants.
    let dims_const = if config.dims_bracketed {
        let list = usize_list(&config.dims);
        let len = Literal::usize_unsuffixed(config.dims.len());
        quote! {
            /// The normalized shape (PyTorch's `normalized_shape`).
            pub const DIMS: [usize; #len] = #list;
        }
    } else {
        let d = Literal::usize_unsuffixed(config.dims[0]);
        let doc = if kind.has_channels() {
            "The number of channels."
        } else {
            "The number of features normalized."
        };
        quote! {
            #[doc = #doc]
            pub const DIMS: usize = #d;
        }
    };
    let mut consts = dims_const;
    if kind.has_channels() {
        let list = usize_list(&config.spatial);
        let len = Literal::usize_unsuffixed(config.spatial.len());
        consts.extend(quote! {
            /// The spatial dims after the channel (empty for none).
            pub const SPATIAL: [usize; #len] = #list;
        });
    }
    if kind == Kind::Group {
        let g = Literal::usize_unsuffixed(config.groups);
        consts.extend(quote! {
            /// The number of groups the channels are split into.
            pub const GROUPS: usize = #g;
        });
    }
    let eps = Literal::f64_suffixed(config.eps);
    consts.extend(quote! {
        /// Added to the variance (the mean square for RMS norm) inside the square root.
        pub const EPS: f64 = #eps;
    });
    let mut methods = sync_methods;
    if kind == Kind::Batch && config.track {
        methods.extend(quote! {
            /// Inference-mode normalization folded into one multiply-add per
            /// value, `y = scale[c] * x + shift[c]`, from the current running
            /// statistics (as PyTorch's `fuse_linear_bn_eval` uses them).
            #[must_use]
            #[inline]
            pub fn fold(&self) -> #krate::Folded<#t, #channels> {
                #private::batch::fold(#affine, &self.running_mean, &self.running_var, Self::EPS)
            }
        });
    }
    if config.track {
        let momentum = config.momentum.map_or_else(
            || none.clone(),
            |m| {
                let m = Literal::f64_suffixed(m);
                quote!(#some(#m))
            },
        );
        consts.extend(quote! {
            /// The weight of the newest batch in the running statistics
            /// (PyTorch's `momentum`); `None` is a cumulative moving average.
            pub const MOMENTUM: ::core::option::Option<f64> = #momentum;
        });
    }

    let doc = docs(config);
    let result = quote!(::core::result::Result<Self::Saved, #krate::NormError>);
    // serde impls, when constnorm's own `serde` feature is on.
    let present = |names: &[(&str, bool)]| -> Vec<proc_macro2::Ident> {
        names
            .iter()
            .filter(|(_, present)| *present)
            .map(|(name, _)| format_ident!("{name}"))
            .collect()
    };
    // The trainable parameters, then every array of the state dict: the
    // parameters followed by the running statistics.
    let params = present(&[("weight", config.affine), ("bias", config.bias)]);
    let arrays: Vec<_> = params
        .iter()
        .cloned()
        .chain(present(&[
            ("running_mean", config.track),
            ("running_var", config.track),
        ]))
        .collect();
    let counters: Vec<_> = config
        .track
        .then(|| format_ident!("num_batches_tracked"))
        .into_iter()
        .collect();
    let param_index: Vec<_> = (0..params.len()).map(Literal::usize_unsuffixed).collect();
    quote! {
        #(#attrs)*
        #(#[doc = #doc])*
        #[derive(::core::clone::Clone, ::core::fmt::Debug, ::core::cmp::PartialEq)]
        #vis struct #ident {
            #fields
        }

        #(#cfgs)*
        #[automatically_derived]
        impl #ident {
            #consts

            /// A layer initialized as PyTorch initializes it: weight 1, bias 0,
            /// running mean 0, running variance 1 (for the parameters it has).
            #[must_use]
            pub const fn new() -> Self {
                Self { #init }
            }

            #methods
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
        #krate::__impl_serde! { #ident, #t, [#(#arrays),*], [#(#counters),*] }

        #(#cfgs)*
        #[automatically_derived]
        impl #krate::StateDict for #ident {
            type Scalar = #t;

            #[inline]
            fn visit_arrays(&self, f: &mut #krate::Visit<'_, #t>) {
                #( f(&#krate::Key::leaf(::core::stringify!(#arrays)), #krate::__private::shape_of(&self.#arrays), #krate::Row::as_flat(&self.#arrays)); )*
                let _ = f;
            }

            #[inline]
            fn visit_arrays_mut(&mut self, f: &mut #krate::VisitMut<'_, #t>) {
                #( f(&#krate::Key::leaf(::core::stringify!(#arrays)), #krate::__private::shape_of(&self.#arrays), #krate::Row::as_flat_mut(&mut self.#arrays)); )*
                let _ = f;
            }

            #[inline]
            fn visit_counters(&self, f: &mut #krate::VisitCounter<'_>) {
                #( f(&#krate::Key::leaf(::core::stringify!(#counters)), self.#counters); )*
                let _ = f;
            }

            #[inline]
            fn visit_counters_mut(&mut self, f: &mut #krate::VisitCounterMut<'_>) {
                #( f(&#krate::Key::leaf(::core::stringify!(#counters)), &mut self.#counters); )*
                let _ = f;
            }
        }

        #(#cfgs)*
        #[automatically_derived]
        impl #krate::Parameters for #ident {
            type Scalar = #t;
            type Grads = #grads_ty;

            #[inline]
            fn parameter(&self, i: usize) -> &[#t] {
                match i {
                    #( #param_index => #krate::Row::as_flat(&self.#params), )*
                    _ => &[],
                }
            }

            #[inline]
            fn parameter_mut(&mut self, i: usize) -> &mut [#t] {
                match i {
                    #( #param_index => #krate::Row::as_flat_mut(&mut self.#params), )*
                    _ => &mut [],
                }
            }

            #[inline]
            fn reset_parameters<R: #krate::__private::rand::Rng + ?::core::marker::Sized>(&mut self, _rng: &mut R) {
                *self = Self::new();
            }
        }

        #(#cfgs)*
        #[automatically_derived]
        impl #krate::Normalization for #ident {
            type Row = #row_ty;
        }

        #(#cfgs)*
        #[automatically_derived]
        impl #krate::Layer for #ident {
            type Input = #row_ty;
            type Output = #row_ty;
            type Saved = #saved;
            const MIN_TRAIN_ROWS: usize = #min_train;
            const MIN_EVAL_ROWS: usize = #min_eval;

            #[inline]
            fn forward_train(&mut self, x: &[#row_ty], y: &mut [#row_ty]) -> #result {
                #train_call
            }

            #[inline]
            fn forward_eval(&self, x: &[#row_ty], y: &mut [#row_ty]) -> #result {
                #eval_call
            }

            #[inline]
            fn backward(
                &self,
                x: &[#row_ty],
                saved: &Self::Saved,
                dy: &[#row_ty],
                dx: &mut [#row_ty],
                grads: &mut Self::Grads,
            ) -> ::core::result::Result<(), #krate::NormError> {
                #backward_call
            }
        }
    }
}

/// PyTorch's spelling of a float argument.
fn py_float(v: f64) -> String {
    format!("{v:e}").replace("e-", "e-0").replace("e-00", "e-0")
}

fn py_bool(b: bool) -> &'static str {
    if b { "True" } else { "False" }
}

/// The generated doc comment: what the layer is, in PyTorch's terms.
fn docs(config: &Config) -> Vec<String> {
    let dtype = config.dtype.name();
    let torch_dtype = if dtype == "f32" { "float32" } else { "float64" };
    let eps = py_float(config.eps);
    let shape = if config.dims_bracketed {
        format!("{:?}", config.dims)
    } else {
        config.dims[0].to_string()
    };
    let momentum = config
        .momentum
        .map_or_else(|| "None".to_owned(), |m| format!("{m}"));
    let c = config.dims[0];
    let dim_suffix = config.spatial.len().max(1);
    let input = {
        let mut s = vec!["batch".to_owned(), c.to_string()];
        s.extend(config.spatial.iter().map(ToString::to_string));
        format!("({})", s.join(", "))
    };
    let (title, torch, what) = match config.kind {
        Kind::Layer => (
            format!("**Layer normalization** over {shape} values"),
            format!(
                "torch.nn.LayerNorm({shape}, eps={eps}, elementwise_affine={}, bias={})",
                py_bool(config.affine),
                py_bool(config.bias)
            ),
            "each row is normalized with its own mean and biased variance, in training and inference alike".to_owned(),
        ),
        Kind::Rms => (
            format!("**RMS normalization** over {shape} values"),
            format!(
                "torch.nn.RMSNorm({shape}, eps={eps}, elementwise_affine={})",
                py_bool(config.affine)
            ),
            "each row is divided by its root mean square, in training and inference alike".to_owned(),
        ),
        Kind::Group => (
            format!("**Group normalization** of {c} channels in {} groups", config.groups),
            format!(
                "torch.nn.GroupNorm({}, {c}, eps={eps}, affine={})",
                config.groups,
                py_bool(config.affine)
            ),
            format!("on input of shape {input}: each group of channels of each example is normalized with its own statistics"),
        ),
        Kind::Instance => (
            format!("**Instance normalization** of {c} channels"),
            format!(
                "torch.nn.InstanceNorm{dim_suffix}d({c}, eps={eps}, momentum={momentum}, affine={}, track_running_stats={})",
                py_bool(config.affine),
                py_bool(config.track)
            ),
            format!(
                "on input of shape {input}: each channel of each example is normalized over its spatial positions{}",
                if config.track { "; inference uses the running statistics" } else { "" }
            ),
        ),
        Kind::Batch => (
            format!("**Batch normalization** of {c} channels"),
            format!(
                "torch.nn.BatchNorm{dim_suffix}d({c}, eps={eps}, momentum={momentum}, affine={}, track_running_stats={})",
                py_bool(config.affine),
                py_bool(config.track)
            ),
            format!(
                "on input of shape {input}: training normalizes each channel with the batch's mean and biased variance{}",
                if config.track {
                    " and updates the running statistics, which inference uses"
                } else {
                    ", and so does inference (no running statistics)"
                }
            ),
        ),
    };
    vec![
        String::new(),
        format!(" {title}, `{dtype}`, generated by `#[normalize]`."),
        String::new(),
        format!(" Equivalent to PyTorch's `{torch}` in {torch_dtype}: {what}."),
        String::new(),
        " Forward and backward passes come from the `Layer` trait; the".into(),
        " configuration is in the associated constants.".into(),
    ]
}
