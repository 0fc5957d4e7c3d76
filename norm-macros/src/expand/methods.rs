//! Methods only some kinds have: batch norm's `fold` (inference as one
//! multiply-add per value) and its data-parallel (SyncBatchNorm) steps.

use super::layout::Gen;
use crate::kind::Kernel;
use proc_macro2::TokenStream;
use quote::quote;

pub fn kind_methods(g: &Gen<'_>) -> TokenStream {
    match g.config.kind.kernel(g.config.track) {
        Kernel::Batch => {
            let mut out = sync_methods(g);
            if g.config.track {
                out.extend(fold_method(g));
            }
            out
        }
        Kernel::Rows { .. } | Kernel::TrackedInstance => TokenStream::new(),
    }
}

fn fold_method(g: &Gen<'_>) -> TokenStream {
    let (krate, private, t, channels) = (g.krate, &g.private, &g.t, &g.channels);
    quote! {
        /// Inference-mode normalization folded into one multiply-add per
        /// value, `y = scale[c] * x + shift[c]`, from the current running
        /// statistics (as PyTorch's `fuse_linear_bn_eval` uses them).
        #[must_use]
        #[inline]
        pub fn fold(&self) -> #krate::Folded<#t, #channels> {
            #private::batch::fold(self.affine(), &self.running_mean, &self.running_var, Self::EPS)
        }
    }
}

/// The four steps of batch norm across data-parallel workers (PyTorch's
/// SyncBatchNorm).
fn sync_methods(g: &Gen<'_>) -> TokenStream {
    let (krate, private, t, row, channels) = (g.krate, &g.private, &g.t, &g.row, &g.channels);
    let stats = quote!(#krate::ChannelStats<#channels>);
    let sums = quote!(#krate::GradSums<#channels>);
    let saved = quote!(#krate::BatchSaved<#t, #channels>);
    let result = |ok: TokenStream| quote!(::core::result::Result<#ok, #krate::NormError>);
    let (stats_result, saved_result, sums_result, unit_result) = (
        result(stats.clone()),
        result(saved.clone()),
        result(sums.clone()),
        result(quote!(())),
    );
    let grads = super::traits::grads_type(g);
    let forward = super::kernel::batch_train_call(
        g,
        quote!(#private::batch::forward_train_global),
        quote!(global,),
    );
    quote! {
        /// Data-parallel training, step 1 of 4: this shard's per-channel
        /// statistics. Merge every worker's with `ChannelStats::merge`
        /// (an all-reduce), then call `forward_train_synced`.
        ///
        /// # Errors
        /// `NormError::EmptyBatch` for an empty shard.
        #[inline]
        pub fn shard_stats(&self, x: &[#row]) -> #stats_result {
            #private::batch::shard_stats(x)
        }

        /// Data-parallel training, step 2 of 4: the training forward pass
        /// on this shard with the whole batch's statistics (`global`);
        /// updates the running statistics as a single worker would.
        ///
        /// # Errors
        /// As `forward_train`; nothing is changed on error.
        #[inline]
        pub fn forward_train_synced(&mut self, x: &[#row], y: &mut [#row], global: &#stats) -> #saved_result {
            #forward
        }

        /// Data-parallel training, step 3 of 4: this shard's gradient sums.
        /// Merge every worker's with `GradSums::merge`, then call
        /// `backward_synced`.
        ///
        /// # Errors
        /// As `backward`.
        #[inline]
        pub fn shard_grad_sums(&self, x: &[#row], saved: &#saved, dy: &[#row]) -> #sums_result {
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
            x: &[#row],
            saved: &#saved,
            global: &#sums,
            dy: &[#row],
            dx: &mut [#row],
            grads: &mut #grads,
        ) -> #unit_result {
            #private::batch::backward_global(self.affine(), x, saved, global, dy, dx, Self::grads_mut(grads))
        }
    }
}
