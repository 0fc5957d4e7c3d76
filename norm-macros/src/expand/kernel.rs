//! The calls into the runtime kernel of the layer's kind
//! (`norm-runtime/src/kernels`), one function per kernel.

use super::layout::Gen;
use crate::kind::{Kernel, Segments};
use proc_macro2::TokenStream;
use quote::{format_ident, quote};

/// What the `Layer` impl's methods call, and the type of what forward saves.
pub struct Calls {
    pub saved: TokenStream,
    pub train: TokenStream,
    pub eval: TokenStream,
    pub backward: TokenStream,
    /// `forward_train_deferred` and `commit_train`, for a layer whose
    /// training pass updates running statistics (the others keep `Layer`'s
    /// defaults: nothing to defer).
    pub deferred: Option<(TokenStream, TokenStream)>,
}

pub fn calls(g: &Gen<'_>) -> Calls {
    match g.config.kind.kernel(g.config.track) {
        Kernel::Rows { entry, segments } => rows(g, entry, segments),
        Kernel::Batch => batch(g),
        Kernel::TrackedInstance => tracked_instance(g),
    }
}

/// Per-example statistics: `rows::{entry}_forward` / `_backward`, with the
/// segment geometry as named constants.
fn rows(g: &Gen<'_>, entry: &str, segments: Segments) -> Calls {
    let (krate, private) = (g.krate, &g.private);
    let generics = match segments {
        Segments::WholeRow => TokenStream::new(),
        Segments::Groups => quote!(::<_, { Self::DIMS }, { Self::GROUPS }, { Self::SPATIAL_SIZE }>),
        Segments::Channels => quote!(::<_, { Self::DIMS }, { Self::SPATIAL_SIZE }>),
    };
    let forward = format_ident!("{entry}_forward");
    let backward = format_ident!("{entry}_backward");
    let mode = |m: TokenStream| quote!(#private::rows::#forward #generics(self.affine(), Self::EPS, #krate::Mode::#m, x, y));
    Calls {
        saved: quote!(#krate::RowSaved),
        train: mode(quote!(Train)),
        eval: mode(quote!(Eval)),
        backward: quote!(#private::rows::#backward #generics(self.affine(), Self::EPS, x, saved, dy, dx, Self::grads_mut(grads))),
        deferred: None,
    }
}

/// Per-channel statistics over the batch.
fn batch(g: &Gen<'_>) -> Calls {
    let (krate, private, t, channels) = (g.krate, &g.private, &g.t, &g.channels);
    let running = if g.config.track {
        quote!(::core::option::Option::Some((
            &self.running_mean,
            &self.running_var
        )))
    } else {
        quote!(::core::option::Option::None)
    };
    Calls {
        saved: quote!(#krate::BatchSaved<#t, #channels>),
        train: batch_train_call(
            g,
            quote!(#private::batch::forward_train),
            TokenStream::new(),
        ),
        eval: quote!(#private::batch::forward_eval(self.affine(), #running, Self::EPS, x, y)),
        backward: quote!(#private::batch::backward(self.affine(), x, saved, dy, dx, Self::grads_mut(grads))),
        deferred: g.config.track.then(|| {
            (
                quote!(#private::batch::forward_train_deferred(self.affine(), true, Self::EPS, x, y)),
                quote!({
                    let _ = x;
                    let (_, running) = self.affine_and_running();
                    #private::batch::commit_train(running, Self::MOMENTUM, saved);
                }),
            )
        }),
    }
}

/// A batch-norm training call (`forward_train`, or `forward_train_global`
/// with `extra` = `global,`), with the running statistics if the layer has
/// them.
pub fn batch_train_call(g: &Gen<'_>, function: TokenStream, extra: TokenStream) -> TokenStream {
    if g.config.track {
        quote!({
            let (affine, running) = self.affine_and_running();
            #function(affine, ::core::option::Option::Some(running), Self::EPS, Self::MOMENTUM, #extra x, y)
        })
    } else {
        quote!(#function(self.affine(), ::core::option::Option::None, Self::EPS, ::core::option::Option::None, #extra x, y))
    }
}

/// Instance norm with running statistics: per-example statistics in
/// training, the running ones in inference.
fn tracked_instance(g: &Gen<'_>) -> Calls {
    let (krate, private, t, channels) = (g.krate, &g.private, &g.t, &g.channels);
    let generics = quote!(::<_, { Self::DIMS }, { Self::SPATIAL_SIZE }>);
    Calls {
        saved: quote!(#krate::InstanceSaved<#t, #channels>),
        // PyTorch passes instance norm's momentum=None as 0, and the macro
        // refuses `none` for it, so `MOMENTUM` is always a number here.
        train: quote!({
            let (affine, running) = self.affine_and_running();
            #private::instance::forward_train #generics(affine, running.mean, running.var, Self::EPS, Self::MOMENTUM.unwrap_or(0.0), x, y)
        }),
        eval: quote!(#private::instance::forward_eval(self.affine(), &self.running_mean, &self.running_var, Self::EPS, x, y)),
        backward: quote!(#private::instance::backward #generics(self.affine(), Self::EPS, x, saved, dy, dx, Self::grads_mut(grads))),
        deferred: Some((
            quote!(#private::instance::forward_train_deferred #generics(self.affine(), Self::EPS, x, y)),
            quote!(#private::instance::commit_train #generics(
                &mut self.running_mean,
                &mut self.running_var,
                Self::EPS,
                Self::MOMENTUM.unwrap_or(0.0),
                x,
                saved,
            )),
        )),
    }
}
