//! The struct, its constants, `new` and `Default`, and the private
//! accessors the trait impls call.

use super::layout::{Gen, as_written, nested};
use super::methods;
use crate::kind::Layout;
use crate::symbol::Opt;
use proc_macro2::{Literal, TokenStream};
use quote::quote;

/// The user's struct with the layer's fields and the generated docs.
pub fn layer_struct(g: &Gen<'_>) -> TokenStream {
    let (attrs, vis, ident) = (&g.target.attrs, &g.target.vis, g.ident());
    let doc = super::traits::docs(g.config);
    let (param, per_channel) = (&g.param, &g.per_channel);
    let mut fields = TokenStream::new();
    if g.config.affine {
        fields.extend(quote! {
            /// Learned scale (PyTorch's `weight`, gamma). Starts at 1.
            pub weight: #param,
        });
    }
    if g.config.bias {
        fields.extend(quote! {
            /// Learned shift (PyTorch's `bias`, beta). Starts at 0.
            pub bias: #param,
        });
    }
    if g.config.track {
        fields.extend(quote! {
            /// Running mean of each channel (PyTorch's `running_mean`), used in
            /// inference; updated by every training pass. Starts at 0.
            pub running_mean: #per_channel,
            /// Running unbiased variance of each channel (PyTorch's `running_var`),
            /// used in inference; updated by every training pass. Starts at 1.
            pub running_var: #per_channel,
            /// Training passes seen (PyTorch's `num_batches_tracked`). Starts at 0.
            pub num_batches_tracked: u64,
        });
    }
    quote! {
        #(#attrs)*
        #(#[doc = #doc])*
        #[derive(::core::clone::Clone, ::core::fmt::Debug, ::core::cmp::PartialEq)]
        #vis struct #ident {
            #fields
        }
    }
}

/// `impl Layer { constants, new, accessors, kind-specific methods }`.
pub fn inherent_impl(g: &Gen<'_>) -> TokenStream {
    let (ident, cfgs) = (g.ident(), &g.cfgs);
    let consts = constants(g);
    let new = new_fn(g);
    let accessors = accessors(g);
    let methods = methods::kind_methods(g);
    quote! {
        #cfgs
        #[automatically_derived]
        impl #ident {
            #consts
            #new
            #accessors
            #methods
        }
    }
}

/// `DIMS`, `SPATIAL`, `SPATIAL_SIZE`, `GROUPS`, `EPS`, `MOMENTUM`: the
/// configuration, with sizes as the user wrote them.
fn constants(g: &Gen<'_>) -> TokenStream {
    let c = g.config;
    let mut out = dims_constant(g);
    if c.kind.layout() == Layout::Channels {
        let spatial = as_written(&c.spatial);
        let len = Literal::usize_unsuffixed(c.spatial.len());
        let size = match g.spatial_size() {
            Some(s) => {
                let s = Literal::usize_unsuffixed(s);
                quote!(#s)
            }
            None => {
                let terms = (0..c.spatial.len()).map(Literal::usize_unsuffixed);
                quote!(1 #(* Self::SPATIAL[#terms])*)
            }
        };
        out.extend(quote! {
            /// The spatial dims after the channel (empty for none).
            pub const SPATIAL: [usize; #len] = #spatial;
            /// Values per channel in one example: the product of `SPATIAL`.
            pub const SPATIAL_SIZE: usize = #size;
        });
    }
    if c.kind.applies(Opt::Groups) {
        let groups = &c.groups.tokens;
        out.extend(quote! {
            /// The number of groups the channels are split into.
            pub const GROUPS: usize = #groups;
        });
    }
    let eps = Literal::f64_suffixed(c.eps);
    out.extend(quote! {
        /// Added to the variance (the mean square for RMS norm) inside the square root.
        pub const EPS: f64 = #eps;
    });
    if c.track {
        let momentum = c.momentum.map_or_else(
            || quote!(::core::option::Option::None),
            |m| {
                let m = Literal::f64_suffixed(m);
                quote!(::core::option::Option::Some(#m))
            },
        );
        out.extend(quote! {
            /// The weight of the newest batch in the running statistics
            /// (PyTorch's `momentum`); `None` is a cumulative moving average.
            pub const MOMENTUM: ::core::option::Option<f64> = #momentum;
        });
    }
    out
}

fn dims_constant(g: &Gen<'_>) -> TokenStream {
    let c = g.config;
    if c.dims_bracketed {
        let list = as_written(&c.dims);
        let len = Literal::usize_unsuffixed(c.dims.len());
        return quote! {
            /// The normalized shape (PyTorch's `normalized_shape`).
            pub const DIMS: [usize; #len] = #list;
        };
    }
    let d = &c.dims[0].tokens;
    let doc = match c.kind.layout() {
        Layout::Channels => " The number of channels.",
        Layout::Features => " The number of features normalized.",
    };
    quote! {
        #[doc = #doc]
        pub const DIMS: usize = #d;
    }
}

/// `new()`: PyTorch's initial values.
fn new_fn(g: &Gen<'_>) -> TokenStream {
    let c = g.config;
    let filled = |v: TokenStream| nested(&v, &g.param_shape);
    let mut init = TokenStream::new();
    if c.affine {
        let one = filled(quote!(1.0));
        init.extend(quote!(weight: #one,));
    }
    if c.bias {
        let zero = filled(quote!(0.0));
        init.extend(quote!(bias: #zero,));
    }
    if c.track {
        let channels = &g.channels;
        init.extend(quote! {
            running_mean: [0.0; #channels],
            running_var: [1.0; #channels],
            num_batches_tracked: 0,
        });
    }
    quote! {
        /// A layer initialized as PyTorch initializes it: weight 1, bias 0,
        /// running mean 0, running variance 1 (for the parameters it has).
        #[must_use]
        pub const fn new() -> Self {
            Self { #init }
        }
    }
}

/// The private accessors the impls pass to the kernels: the parameters as
/// `Affine`, the gradients as `GradsMut`, and, with running statistics, the
/// parameters and the statistics borrowed together for a training pass.
fn accessors(g: &Gen<'_>) -> TokenStream {
    let (private, param, krate) = (&g.private, &g.param, g.krate);
    let some = quote!(::core::option::Option::Some);
    let none = quote!(::core::option::Option::None);
    let weight = if g.config.affine {
        quote!(#some(&self.weight))
    } else {
        none.clone()
    };
    let bias = if g.config.bias {
        quote!(#some(&self.bias))
    } else {
        none.clone()
    };
    let affine = quote!(#private::Affine::<#param> { weight: #weight, bias: #bias });
    let grads = match (g.config.affine, g.config.bias) {
        (true, true) => {
            quote!(#private::GradsMut { weight: #some(&mut grads.weight), bias: #some(&mut grads.bias) })
        }
        (true, false) => {
            quote!(#private::GradsMut { weight: #some(&mut grads.weight), bias: #none })
        }
        (false, _) => quote!({
            let _: &mut #krate::NoGrads = grads;
            #private::GradsMut::<#param> { weight: #none, bias: #none }
        }),
    };
    let grads_ty = super::traits::grads_type(g);
    let mut out = quote! {
        /// The learned parameters, as the kernels take them.
        #[inline]
        fn affine(&self) -> #private::Affine<'_, #param> {
            #affine
        }

        /// The gradient accumulators, as the kernels take them.
        #[inline]
        fn grads_mut(grads: &mut #grads_ty) -> #private::GradsMut<'_, #param> {
            #grads
        }
    };
    if g.config.track {
        let (t, channels) = (&g.t, &g.channels);
        out.extend(quote! {
            /// The parameters and the running statistics, borrowed together
            /// for a training pass.
            #[inline]
            fn affine_and_running(&mut self) -> (#private::Affine<'_, #param>, #private::Running<'_, #t, #channels>) {
                (
                    #affine,
                    #private::Running {
                        mean: &mut self.running_mean,
                        var: &mut self.running_var,
                        num_batches_tracked: &mut self.num_batches_tracked,
                    },
                )
            }
        });
    }
    out
}

/// `Default` is `new()`.
pub fn default_impl(g: &Gen<'_>) -> TokenStream {
    let (ident, cfgs) = (g.ident(), &g.cfgs);
    quote! {
        #cfgs
        #[automatically_derived]
        impl ::core::default::Default for #ident {
            #[inline]
            fn default() -> Self {
                Self::new()
            }
        }
    }
}
