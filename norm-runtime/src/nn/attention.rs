//! Multi-head self-attention over a sequence of tokens.

use super::params::zeroed_in_place;
use super::{Linear, LinearGrads, SavedRows};
use crate::kernels::matvec::{affine, affine_backward};
use crate::{Float, Layer, NormError};

/// Multi-head self-attention, PyTorch's `torch.nn.MultiheadAttention(E,
/// HEADS, dropout = 0, bias = BIAS, batch_first = True)` called as
/// `mha(x, x, x, need_weights = False)`: one example is a sequence of `L`
/// tokens of `E` features, `[[T; E]; L]` (PyTorch's `(N, L, E)`).
///
/// `q = x W_qᵀ + b_q`, `k`, `v` likewise; head `h` takes the features
/// `h d..(h + 1) d` (`d = E / HEADS`) of each, attends with
/// `softmax(q_h k_hᵀ / √d)` over the keys (max-shifted), and the heads'
/// outputs, concatenated, go through `out_proj`.
///
/// - Weights: `in_proj_weight` is PyTorch's `(3E, E)` with rows
///   `[W_q; W_k; W_v]`, stored as `[[[T; E]; E]; 3]` (the same memory
///   order); `in_proj_bias` `(3E)` as `[[T; E]; 3]`; `out_proj` a
///   [`Linear`], so the state-dict keys are PyTorch's: `in_proj_weight`,
///   `in_proj_bias`, `out_proj.weight`, `out_proj.bias`. With `BIAS = false`
///   neither bias exists (as in PyTorch): both are kept zero and are not
///   parameters or state-dict entries.
/// - Masks: `CAUSAL` applies PyTorch's causal `attn_mask` (query `i` may not
///   attend to keys after `i`, `True` above the diagonal).
///   [`forward_masked`](Self::forward_masked) adds a key padding mask per
///   example, OR-ed with it as PyTorch does.
/// - Initialization ([`reset_parameters`](crate::Parameters::reset_parameters)):
///   PyTorch's, `out_proj` as a `Linear`, then `xavier_uniform_` on
///   `in_proj_weight` (uniform in ±√(6 / 4E)), both biases zero. [`new`](Self::new)
///   is all zeros.
/// - `HEADS` must divide `E` (and `L`, `HEADS` be at least 1): otherwise
///   [`new`](Self::new) and the forward passes do not compile:
///
/// ```compile_fail,E0080
/// // 4 heads do not divide 6 features.
/// let mha = constnorm::nn::MultiheadAttention::<6, 4, 3>::new();
/// ```
///
/// Training vs inference: the same (no dropout). Backward recomputes the
/// attention of each example on the stack (`q`, `k`, `v` and `HEADS`
/// matrices of `L x L` probabilities), so nothing is saved but the row
/// count, and nothing is allocated.
///
/// ```
/// use constnorm::Layer;
/// use constnorm::nn::{MultiheadAttention, init_seeded};
///
/// // Sequences of 4 tokens of 8 features, 2 heads, causal.
/// let mut mha = MultiheadAttention::<8, 2, 4, f32, true, true>::new();
/// init_seeded(&mut mha, 0);
/// let x = [[[0.5_f32; 8]; 4]; 3]; // a batch of 3 sequences
/// let (y, _) = mha.forward_eval_array(&x);
///
/// // The second sequence has one token of padding at the end.
/// let padding = [[false; 4], [false, false, false, true], [false; 4]];
/// let mut y_padded = [[[0.0; 8]; 4]; 3];
/// mha.forward_masked(&x, &padding, &mut y_padded)?;
/// assert_eq!(y_padded[0], y[0]);
/// # Ok::<(), constnorm::NormError>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct MultiheadAttention<
    const E: usize,
    const HEADS: usize,
    const L: usize,
    T: Float = f32,
    const BIAS: bool = true,
    const CAUSAL: bool = false,
> {
    /// `in_proj_weight[g][o][i]`: row `g E + o` of PyTorch's `(3E, E)`,
    /// `g` = 0, 1, 2 for the query, key and value.
    pub in_proj_weight: [[[T; E]; E]; 3],
    /// `in_proj_bias[g][o]`: entry `g E + o` of PyTorch's `(3E)`; zero
    /// without bias.
    pub in_proj_bias: [[T; E]; 3],
    /// The output projection; its bias is zero without bias.
    pub out_proj: Linear<E, E, T>,
}

/// Gradients of a [`MultiheadAttention`]'s parameters, in its layout;
/// `Default` is zeros. Without bias, the bias gradients stay zero.
#[derive(Clone, Debug, PartialEq)]
pub struct MultiheadAttentionGrads<const E: usize, T: Float = f32, const BIAS: bool = true> {
    /// Gradient of `in_proj_weight`.
    pub in_proj_weight: [[[T; E]; E]; 3],
    /// Gradient of `in_proj_bias`.
    pub in_proj_bias: [[T; E]; 3],
    /// Gradients of `out_proj`.
    pub out_proj: LinearGrads<E, E, T>,
}

super::params::composite_layer! {
    impl[const E: usize, const HEADS: usize, const L: usize, T: Float, const BIAS: bool, const CAUSAL: bool]
        MultiheadAttention<E, HEADS, L, T, BIAS, CAUSAL>,
    grads[const E: usize, T: Float, const BIAS: bool] MultiheadAttentionGrads<E, T, BIAS>,
    scalar T;
    reset(mha, rng) {
        // PyTorch builds `out_proj` (a Linear's init) before `_reset_parameters`.
        crate::Parameters::reset_parameters(&mut mha.out_proj, rng);
        let weight = mha.in_proj_weight.as_flattened_mut().as_flattened_mut();
        xavier_uniform(rng, E, 3 * E, weight);
        mha.in_proj_bias = [[T::ZERO; E]; 3];
        mha.out_proj.bias = [T::ZERO; E];
    }
    arrays {
        in_proj_weight: "in_proj_weight", shape [3 * E, E];
        in_proj_bias: "in_proj_bias", shape [3 * E], if BIAS;
    }
    layers {
        out_proj: "out_proj", grads LinearGrads<E, E, T>, first if BIAS { 2 } else { 1 };
    }
}

/// PyTorch's `xavier_uniform_` (gain 1): uniform in
/// ±√(6 / (`fan_in` + `fan_out`)).
fn xavier_uniform<T: Float, R: rand::Rng + ?Sized>(
    rng: &mut R,
    fan_in: usize,
    fan_out: usize,
    weight: &mut [T],
) {
    use rand::RngExt;
    #[allow(clippy::cast_precision_loss)]
    let bound = (6.0 / (fan_in + fan_out) as f64).sqrt();
    for w in weight {
        *w = T::from_f64(rng.random_range(-bound..bound));
    }
}

/// One example's attention, which backward recomputes: the projections,
/// each head's probabilities (`probs[h][query][key]`, 0 where masked) and
/// the heads' outputs, concatenated (the input of `out_proj`).
#[derive(Clone, Debug)]
pub(crate) struct Attended<const E: usize, const HEADS: usize, const L: usize, T> {
    qkv: [[[T; E]; L]; 3],
    probs: [[[T; L]; L]; HEADS],
    heads: [[T; E]; L],
}

impl<const E: usize, const HEADS: usize, const L: usize, T: Float> Attended<E, HEADS, L, T> {
    /// All zeros, to be filled by `MultiheadAttention::attend`.
    pub(crate) const fn new() -> Self {
        Self {
            qkv: [[[T::ZERO; E]; L]; 3],
            probs: [[[T::ZERO; L]; L]; HEADS],
            heads: [[T::ZERO; E]; L],
        }
    }

    /// The features of one head.
    const HEAD_DIM: usize = E / HEADS;

    /// `1 / √d`, the scale of the scores.
    fn scale() -> T {
        T::ONE / T::from_usize(Self::HEAD_DIM).sqrt()
    }

    /// The heads' attention from the projections already in `qkv`;
    /// `score(head, query, key)` masks a score or adds to it.
    fn attend(&mut self, score: impl Fn(usize, usize, usize) -> Score<T>) {
        let (d, scale) = (Self::HEAD_DIM, Self::scale());
        let [q, k, v] = &self.qkv;
        for (h, probs) in self.probs.iter_mut().enumerate() {
            let cols = h * d..(h + 1) * d;
            for (i, p) in probs.iter_mut().enumerate() {
                for (j, (s, k)) in p.iter_mut().zip(k).enumerate() {
                    *s = dot(&q[i][cols.clone()], &k[cols.clone()]) * scale;
                    if let Score::Add(b) = score(h, i, j) {
                        *s += b;
                    }
                }
                softmax_unmasked(p, |j| !matches!(score(h, i, j), Score::Masked));
                for (o, c) in self.heads[i][cols.clone()].iter_mut().zip(cols.clone()) {
                    *o = p.iter().zip(v).fold(T::ZERO, |s, (p, v)| s + *p * v[c]);
                }
            }
        }
    }

    /// The gradients of `q`, `k` and `v` from that of the heads' outputs;
    /// `dscore(head, query, key, g)` is given the gradient of every score
    /// (that of an additive mask's entry).
    fn backward(
        &self,
        dheads: &[[T; E]; L],
        mut dscore: impl FnMut(usize, usize, usize, T),
    ) -> [[[T; E]; L]; 3] {
        let (d, scale) = (Self::HEAD_DIM, Self::scale());
        let mut dqkv = [[[T::ZERO; E]; L]; 3];
        let [q, k, v] = &self.qkv;
        let [dq, dk, dv] = &mut dqkv;
        for (h, probs) in self.probs.iter().enumerate() {
            let cols = h * d..(h + 1) * d;
            for (i, p) in probs.iter().enumerate() {
                let dout = &dheads[i][cols.clone()];
                let mut dp = [T::ZERO; L];
                for (j, dp) in dp.iter_mut().enumerate() {
                    *dp = dot(dout, &v[j][cols.clone()]);
                    axpy(p[j], dout, &mut dv[j][cols.clone()]);
                }
                // Softmax backward: ds = p (dp - sum(p dp)).
                let mean = dot(p, &dp);
                for (j, (p, dp)) in p.iter().zip(&dp).enumerate() {
                    let raw = *p * (*dp - mean);
                    dscore(h, i, j, raw);
                    let ds = raw * scale;
                    axpy(ds, &k[j][cols.clone()], &mut dq[i][cols.clone()]);
                    axpy(ds, &q[i][cols.clone()], &mut dk[j][cols.clone()]);
                }
            }
        }
        dqkv
    }
}

/// What a mask does to one score.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Score<T> {
    /// Left out of the softmax (a `true` of a bool mask, a padded key).
    Masked,
    /// Left as it is.
    Plain,
    /// Added to (an entry of a float mask).
    Add(T),
}

/// PyTorch's general `attn_mask` for
/// [`MultiheadAttention::forward_attn_mask`]: bool (`true` = may not
/// attend) or float (added to the scaled scores,
/// `softmax(q k^T / sqrt(d) + attn_mask)`), one `(L, L)` matrix for every
/// example and head or one per example and head (`(N * HEADS, L, L)`,
/// example-major: slice `n * HEADS + h` is example `n`'s head `h`, as
/// PyTorch's 3-d masks).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum AttnMask<'a, T, const L: usize> {
    /// `(L, L)`, `true` = query `i` may not attend to key `j`.
    Bool(&'a [[bool; L]; L]),
    /// `(L, L)`, added to the scores (`-inf` masks).
    Float(&'a [[T; L]; L]),
    /// `(N * HEADS, L, L)` bool.
    HeadBool(&'a [[[bool; L]; L]]),
    /// `(N * HEADS, L, L)` float.
    HeadFloat(&'a [[[T; L]; L]]),
}

impl<T: Float, const L: usize> AttnMask<'_, T, L> {
    /// What the mask does to example `n`'s head `h`'s score of query `i`
    /// for key `j`.
    fn score(&self, heads: usize, n: usize, h: usize, i: usize, j: usize) -> Score<T> {
        let bool_score = |masked: bool| if masked { Score::Masked } else { Score::Plain };
        let float_score = |b: T| {
            if b.to_f64() == f64::NEG_INFINITY {
                Score::Masked
            } else {
                Score::Add(b)
            }
        };
        match self {
            Self::Bool(m) => bool_score(m[i][j]),
            Self::Float(m) => float_score(m[i][j]),
            Self::HeadBool(m) => bool_score(m[n * heads + h][i][j]),
            Self::HeadFloat(m) => float_score(m[n * heads + h][i][j]),
        }
    }

    /// The number of values of the mask (and of its gradient).
    fn len(&self) -> usize {
        match self {
            Self::Bool(_) | Self::Float(_) => L * L,
            Self::HeadBool(m) => m.len() * L * L,
            Self::HeadFloat(m) => m.len() * L * L,
        }
    }

    /// Whether it is a float mask (which has a gradient).
    fn is_float(&self) -> bool {
        matches!(self, Self::Float(_) | Self::HeadFloat(_))
    }

    /// The mask's gradient index of a score.
    fn index(&self, heads: usize, n: usize, h: usize, i: usize, j: usize) -> usize {
        match self {
            Self::Bool(_) | Self::Float(_) => i * L + j,
            Self::HeadBool(_) | Self::HeadFloat(_) => ((n * heads + h) * L + i) * L + j,
        }
    }
}

/// `sum(a * b)`.
#[inline]
fn dot<T: Float>(a: &[T], b: &[T]) -> T {
    a.iter().zip(b).fold(T::ZERO, |s, (a, b)| s + *a * *b)
}

/// `y += a x`.
#[inline]
fn axpy<T: Float>(a: T, x: &[T], y: &mut [T]) {
    for (y, x) in y.iter_mut().zip(x) {
        *y += a * *x;
    }
}

/// The softmax of the scores `p` over the keys `allowed` accepts, shifted
/// by their maximum; 0 for the others. At least one key is allowed (the
/// callers check the masks first).
fn softmax_unmasked<T: Float, const L: usize>(p: &mut [T; L], allowed: impl Fn(usize) -> bool) {
    let max = p
        .iter()
        .enumerate()
        .filter(|(j, _)| allowed(*j))
        .map(|(_, s)| *s)
        .reduce(T::max)
        .unwrap_or(T::ZERO);
    let mut sum = T::ZERO;
    for (j, s) in p.iter_mut().enumerate() {
        *s = if allowed(j) {
            (*s - max).exp()
        } else {
            T::ZERO
        };
        sum += *s;
    }
    for s in p {
        *s = *s / sum;
    }
}

/// `out = x Wᵀ + b` for every token.
fn project<T: Float, const E: usize, const L: usize>(
    w: &[[T; E]; E],
    b: &[T; E],
    x: &[[T; E]; L],
    out: &mut [[T; E]; L],
) {
    for (x, out) in x.iter().zip(out) {
        affine(w, b, x, out);
    }
}

/// Backward of [`project`]: `dx += dout W`, `dw += doutᵀ x`, `db += dout`
/// summed over the tokens (no `db` without bias).
fn project_backward<T: Float, const E: usize, const L: usize>(
    w: &[[T; E]; E],
    x: &[[T; E]; L],
    dout: &[[T; E]; L],
    dx: &mut [[T; E]; L],
    dw: &mut [[T; E]; E],
    mut db: Option<&mut [T; E]>,
) {
    let mut unused = [T::ZERO; E];
    for ((x, dout), dx) in x.iter().zip(dout).zip(dx) {
        let db: &mut [T] = match db.as_deref_mut() {
            Some(db) => db,
            None => &mut unused,
        };
        affine_backward(w, x, dout, dx, dw, db);
    }
}

/// Checks a key padding mask: one row per example, and for every query a
/// key it may attend to (under the causal mask too, if `causal`).
///
/// # Errors
/// [`NormError::RowCountMismatch`] (argument `"key_padding_mask"`) or
/// [`NormError::FullyMaskedQuery`].
pub(crate) fn check_padding<const L: usize>(
    causal: bool,
    rows: usize,
    padding: Option<&[[bool; L]]>,
) -> Result<(), NormError> {
    let Some(padding) = padding else {
        return Ok(());
    };
    if padding.len() != rows {
        return Err(NormError::RowCountMismatch {
            argument: "key_padding_mask",
            expected: rows,
            found: padding.len(),
        });
    }
    for (row, mask) in padding.iter().enumerate() {
        // Queries before the first key that is not padding see none of the
        // keys the causal mask leaves them; without it, all do or none.
        let first = mask.iter().position(|padded| !padded);
        if first.is_none_or(|first| causal && first > 0) {
            return Err(NormError::FullyMaskedQuery { row, query: 0 });
        }
    }
    Ok(())
}

impl<
    const E: usize,
    const HEADS: usize,
    const L: usize,
    T: Float,
    const BIAS: bool,
    const CAUSAL: bool,
> MultiheadAttention<E, HEADS, L, T, BIAS, CAUSAL>
{
    /// `E / HEADS`; evaluating it is the compile-time check of the sizes.
    const HEAD_DIM: usize = {
        assert!(
            HEADS > 0,
            "MultiheadAttention: HEADS (num_heads) must be at least 1"
        );
        assert!(
            E.is_multiple_of(HEADS),
            "MultiheadAttention: HEADS (num_heads) must divide E (embed_dim)"
        );
        assert!(
            L > 0,
            "MultiheadAttention: L (the sequence length) must be at least 1"
        );
        E / HEADS
    };

    /// All weights and biases zero (see the type's docs for PyTorch's
    /// initialization). Does not compile unless `HEADS` divides `E`.
    #[must_use]
    pub const fn new() -> Self {
        let _: usize = Self::HEAD_DIM;
        Self {
            in_proj_weight: [[[T::ZERO; E]; E]; 3],
            in_proj_bias: [[T::ZERO; E]; 3],
            out_proj: Linear::new(),
        }
    }

    /// Whether `query` may not attend to `key`: the causal mask, OR-ed with
    /// the example's key padding mask.
    #[inline]
    fn masked(query: usize, key: usize, padding: Option<&[bool; L]>) -> bool {
        (CAUSAL && key > query) || padding.is_some_and(|p| p[key])
    }

    /// One example's attention, up to the input of `out_proj`, into `a`
    /// (every field overwritten; filled in place, not returned, because it
    /// is large and would be copied).
    pub(crate) fn attend(
        &self,
        x: &[[T; E]; L],
        padding: Option<&[bool; L]>,
        a: &mut Attended<E, HEADS, L, T>,
    ) {
        self.attend_scored(x, a, |_, query, key| {
            if Self::masked(query, key, padding) {
                Score::Masked
            } else {
                Score::Plain
            }
        });
    }

    /// [`attend`](Self::attend) with what the masks do to each score of
    /// each head.
    pub(crate) fn attend_scored(
        &self,
        x: &[[T; E]; L],
        a: &mut Attended<E, HEADS, L, T>,
        score: impl Fn(usize, usize, usize) -> Score<T>,
    ) {
        let _: usize = Self::HEAD_DIM;
        let projections = self.in_proj_weight.iter().zip(&self.in_proj_bias);
        for ((w, b), out) in projections.zip(&mut a.qkv) {
            project(w, b, x, out);
        }
        a.attend(score);
    }

    /// Example `n`'s score function under a general mask, the key padding
    /// mask and the causal mask.
    pub(crate) fn general_score<'m>(
        attn_mask: &'m AttnMask<'_, T, L>,
        padding: Option<&'m [bool; L]>,
        n: usize,
    ) -> impl Fn(usize, usize, usize) -> Score<T> + 'm {
        move |h, i, j| {
            if Self::masked(i, j, padding) {
                Score::Masked
            } else {
                attn_mask.score(HEADS, n, h, i, j)
            }
        }
    }

    /// The checks of the general-mask passes, before any write.
    pub(crate) fn check_attn_mask(
        rows: usize,
        attn_mask: &AttnMask<'_, T, L>,
        padding: Option<&[[bool; L]]>,
    ) -> Result<(), NormError> {
        check_padding(false, rows, padding)?;
        let matrices = match attn_mask {
            AttnMask::HeadBool(m) => Some(m.len()),
            AttnMask::HeadFloat(m) => Some(m.len()),
            AttnMask::Bool(_) | AttnMask::Float(_) => None,
        };
        if let Some(found) = matrices.filter(|&m| m != rows * HEADS) {
            return Err(NormError::RowCountMismatch {
                argument: "attn_mask",
                expected: rows * HEADS,
                found,
            });
        }
        let values: &[T] = match attn_mask {
            AttnMask::Float(m) => m.as_flattened(),
            AttnMask::HeadFloat(m) => m.as_flattened().as_flattened(),
            AttnMask::Bool(_) | AttnMask::HeadBool(_) => &[],
        };
        if let Some(index) = values
            .iter()
            .position(|v| v.to_f64().is_nan() || v.to_f64() == f64::INFINITY)
        {
            return Err(NormError::NonFiniteMask { index });
        }
        for n in 0..rows {
            let score = Self::general_score(attn_mask, padding.map(|p| &p[n]), n);
            for h in 0..HEADS {
                if let Some(query) =
                    (0..L).find(|&i| (0..L).all(|j| score(h, i, j) == Score::Masked))
                {
                    return Err(NormError::FullyMaskedQuery { row: n, query });
                }
            }
        }
        Ok(())
    }

    /// Self-attention under PyTorch's general `attn_mask` (bool or float,
    /// one `(L, L)` matrix or one per example and head; see [`AttnMask`]),
    /// with a `key_padding_mask` if given (OR-ed with a bool mask, `-inf`
    /// added to a float one, as PyTorch does) and the causal mask under
    /// `CAUSAL`: `nn.MultiheadAttention(x, x, x, attn_mask=...,
    /// key_padding_mask=...)`.
    ///
    /// # Errors
    /// As [`forward_eval`](Layer::forward_eval);
    /// [`NormError::RowCountMismatch`] for a `key_padding_mask` without a
    /// row per example or a per-head mask without `N * HEADS` matrices;
    /// [`NormError::NonFiniteMask`] for a NaN or `+inf` in a float mask;
    /// [`NormError::FullyMaskedQuery`] where some query of some head may
    /// attend to no key. `y` is not written then.
    pub fn forward_attn_mask(
        &self,
        x: &[[[T; E]; L]],
        attn_mask: AttnMask<'_, T, L>,
        key_padding_mask: Option<&[[bool; L]]>,
        y: &mut [[[T; E]; L]],
    ) -> Result<SavedRows, NormError> {
        let saved = super::check_forward(x.len(), y.len())?;
        Self::check_attn_mask(x.len(), &attn_mask, key_padding_mask)?;
        for (n, (x, y)) in x.iter().zip(y).enumerate() {
            let mut a = Attended::new();
            let padding = key_padding_mask.map(|p| &p[n]);
            self.attend_scored(x, &mut a, Self::general_score(&attn_mask, padding, n));
            self.output(&a, y)?;
        }
        Ok(saved)
    }

    /// [`backward`](Layer::backward) of
    /// [`forward_attn_mask`](Self::forward_attn_mask) given the same `x` and
    /// masks; for a float mask, adds `dL/d attn_mask` to `attn_mask_grad`
    /// if given (the mask's shape, flat: for an `(L, L)` mask the sum over
    /// examples and heads, as PyTorch's).
    ///
    /// # Errors
    /// As [`forward_attn_mask`](Self::forward_attn_mask) and
    /// [`backward`](Layer::backward), and
    /// [`NormError::RowCountMismatch`] (argument `"attn_mask_grad"`) for a
    /// gradient buffer of another size than the float mask; nothing is
    /// written then.
    #[allow(clippy::too_many_arguments)]
    pub fn backward_attn_mask(
        &self,
        x: &[[[T; E]; L]],
        attn_mask: AttnMask<'_, T, L>,
        key_padding_mask: Option<&[[bool; L]]>,
        saved: &SavedRows,
        dy: &[[[T; E]; L]],
        dx: &mut [[[T; E]; L]],
        grads: &mut MultiheadAttentionGrads<E, T, BIAS>,
        mut attn_mask_grad: Option<&mut [T]>,
    ) -> Result<(), NormError> {
        super::check_backward(*saved, x.len(), dy.len(), dx.len())?;
        Self::check_attn_mask(x.len(), &attn_mask, key_padding_mask)?;
        if let Some(g) = &attn_mask_grad
            && attn_mask.is_float()
            && g.len() != attn_mask.len()
        {
            return Err(NormError::RowCountMismatch {
                argument: "attn_mask_grad",
                expected: attn_mask.len(),
                found: g.len(),
            });
        }
        for (n, ((x, dy), dx)) in x.iter().zip(dy).zip(dx.iter_mut()).enumerate() {
            let mut a = Attended::new();
            let padding = key_padding_mask.map(|p| &p[n]);
            self.attend_scored(x, &mut a, Self::general_score(&attn_mask, padding, n));
            self.backward_scored(x, &a, dy, dx, grads, |h, i, j, g| {
                if let Some(out) = attn_mask_grad
                    .as_deref_mut()
                    .filter(|_| attn_mask.is_float())
                {
                    out[attn_mask.index(HEADS, n, h, i, j)] += g;
                }
            })?;
        }
        Ok(())
    }

    /// The output of one example's attention.
    pub(crate) fn output(
        &self,
        a: &Attended<E, HEADS, L, T>,
        y: &mut [[T; E]; L],
    ) -> Result<(), NormError> {
        self.out_proj.forward_eval(&a.heads, y).map(drop)
    }

    /// Backward of one example whose attention `a` was recomputed from `x`:
    /// writes `dx`, adds to `grads`.
    pub(crate) fn backward_attended(
        &self,
        x: &[[T; E]; L],
        a: &Attended<E, HEADS, L, T>,
        dy: &[[T; E]; L],
        dx: &mut [[T; E]; L],
        grads: &mut MultiheadAttentionGrads<E, T, BIAS>,
    ) -> Result<(), NormError> {
        self.backward_scored(x, a, dy, dx, grads, |_, _, _, _| {})
    }

    /// [`backward_attended`](Self::backward_attended) that also gives
    /// `dscore(head, query, key, g)` the gradient of every score.
    fn backward_scored(
        &self,
        x: &[[T; E]; L],
        a: &Attended<E, HEADS, L, T>,
        dy: &[[T; E]; L],
        dx: &mut [[T; E]; L],
        grads: &mut MultiheadAttentionGrads<E, T, BIAS>,
        dscore: impl FnMut(usize, usize, usize, T),
    ) -> Result<(), NormError> {
        let mut dheads = [[T::ZERO; E]; L];
        let rows = SavedRows { rows: L };
        self.out_proj
            .backward(&a.heads, &rows, dy, &mut dheads, &mut grads.out_proj)?;
        if !BIAS {
            grads.out_proj.bias = [T::ZERO; E];
        }
        let dqkv = a.backward(&dheads, dscore);
        *dx = [[T::ZERO; E]; L];
        let bias_grads = grads.in_proj_bias.iter_mut().map(|db| BIAS.then_some(db));
        let projections = self.in_proj_weight.iter().zip(&dqkv);
        for (((w, dout), dw), db) in projections.zip(&mut grads.in_proj_weight).zip(bias_grads) {
            project_backward(w, x, dout, dx, dw, db);
        }
        Ok(())
    }

    fn forward_example(
        &self,
        x: &[[T; E]; L],
        padding: Option<&[bool; L]>,
        y: &mut [[T; E]; L],
    ) -> Result<(), NormError> {
        let mut a = Attended::new();
        self.attend(x, padding, &mut a);
        self.output(&a, y)
    }

    fn backward_example(
        &self,
        x: &[[T; E]; L],
        padding: Option<&[bool; L]>,
        dy: &[[T; E]; L],
        dx: &mut [[T; E]; L],
        grads: &mut MultiheadAttentionGrads<E, T, BIAS>,
    ) -> Result<(), NormError> {
        let mut a = Attended::new();
        self.attend(x, padding, &mut a);
        self.backward_attended(x, &a, dy, dx, grads)
    }
}

/// The passes of a layer over sequences of `L` tokens from its inherent
/// passes over one example, `forward_example(x, padding, y)` and
/// `backward_example(x, padding, dy, dx, grads)` (`padding` the example's
/// key padding mask, if any): the row and mask checks before any write,
/// `Layer` without a mask, `forward_masked` and `backward_masked` with one
/// (documented by the doc comment given), and `Default` (`new`).
macro_rules! sequence_layer {
    (
        impl[$($g:tt)*] $layer:ty, row $row:ty, tokens $l:ident, causal $causal:ident, grads $grads:ty;
        $(#[$doc:meta])*
    ) => {
        impl<$($g)*> $layer {
            fn forward_rows(
                &self,
                x: &[$row],
                padding: Option<&[[bool; $l]]>,
                y: &mut [$row],
            ) -> Result<SavedRows, NormError> {
                let saved = $crate::nn::check_forward(x.len(), y.len())?;
                $crate::nn::attention::check_padding($causal, x.len(), padding)?;
                for (n, (x, y)) in x.iter().zip(y).enumerate() {
                    self.forward_example(x, padding.map(|p| &p[n]), y)?;
                }
                Ok(saved)
            }

            fn backward_rows(
                &self,
                x: &[$row],
                padding: Option<&[[bool; $l]]>,
                saved: &SavedRows,
                dy: &[$row],
                dx: &mut [$row],
                grads: &mut $grads,
            ) -> Result<(), NormError> {
                $crate::nn::check_backward(*saved, x.len(), dy.len(), dx.len())?;
                $crate::nn::attention::check_padding($causal, x.len(), padding)?;
                for (n, ((x, dy), dx)) in x.iter().zip(dy).zip(dx).enumerate() {
                    self.backward_example(x, padding.map(|p| &p[n]), dy, dx, grads)?;
                }
                Ok(())
            }

            $(#[$doc])*
            pub fn forward_masked(
                &self,
                x: &[$row],
                key_padding_mask: &[[bool; $l]],
                y: &mut [$row],
            ) -> Result<SavedRows, NormError> {
                self.forward_rows(x, Some(key_padding_mask), y)
            }

            /// [`backward`](Layer::backward) of
            /// [`forward_masked`](Self::forward_masked), given the same `x`
            /// and mask.
            ///
            /// # Errors
            /// As [`backward`](Layer::backward) and
            /// [`forward_masked`](Self::forward_masked); neither `dx` nor
            /// `grads` is touched then.
            pub fn backward_masked(
                &self,
                x: &[$row],
                key_padding_mask: &[[bool; $l]],
                saved: &SavedRows,
                dy: &[$row],
                dx: &mut [$row],
                grads: &mut $grads,
            ) -> Result<(), NormError> {
                self.backward_rows(x, Some(key_padding_mask), saved, dy, dx, grads)
            }
        }

        impl<$($g)*> Default for $layer {
            fn default() -> Self {
                Self::new()
            }
        }

        impl<$($g)*> Layer for $layer {
            type Input = $row;
            type Output = $row;
            type Saved = SavedRows;
            const EVAL_PER_ROW: bool = true;

            #[inline]
            fn forward_train(&mut self, x: &[$row], y: &mut [$row]) -> Result<SavedRows, NormError> {
                self.forward_eval(x, y)
            }

            #[inline]
            fn forward_eval(&self, x: &[$row], y: &mut [$row]) -> Result<SavedRows, NormError> {
                self.forward_rows(x, None, y)
            }

            #[inline]
            fn backward(
                &self,
                x: &[$row],
                saved: &SavedRows,
                dy: &[$row],
                dx: &mut [$row],
                grads: &mut $grads,
            ) -> Result<(), NormError> {
                self.backward_rows(x, None, saved, dy, dx, grads)
            }
        }
    };
}
pub(crate) use sequence_layer;

sequence_layer! {
    impl[const E: usize, const HEADS: usize, const L: usize, T: Float, const BIAS: bool, const CAUSAL: bool]
        MultiheadAttention<E, HEADS, L, T, BIAS, CAUSAL>,
        row [[T; E]; L], tokens L, causal CAUSAL, grads MultiheadAttentionGrads<E, T, BIAS>;
    /// [`forward_eval`](Layer::forward_eval) with a key padding mask,
    /// PyTorch's `key_padding_mask` (`(N, L)`): `key_padding_mask[n][j]`
    /// true means key `j` of example `n` is padding, which no query of that
    /// example attends to (OR-ed with the causal mask under `CAUSAL`).
    /// Padded positions still get an output.
    ///
    /// # Errors
    /// As [`forward_eval`](Layer::forward_eval), and
    /// [`NormError::RowCountMismatch`] (argument `"key_padding_mask"`)
    /// unless the mask has a row per example, or
    /// [`NormError::FullyMaskedQuery`] if a query may attend to no key
    /// (where PyTorch gives NaN). Nothing is written then.
}

zeroed_in_place! {
    impl[const E: usize, const HEADS: usize, const L: usize, T: Float, const BIAS: bool, const CAUSAL: bool]
        MultiheadAttention<E, HEADS, L, T, BIAS, CAUSAL> {
        zero: in_proj_weight, in_proj_bias;
        nested: out_proj;
    }
}
