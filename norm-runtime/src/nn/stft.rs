//! The magnitude of a short-time Fourier transform, by FFT: what an audio
//! front end written as a convolution with a fixed `[cos; -sin]` basis and a
//! [`ComplexMagnitude`](super::ComplexMagnitude) computes, in
//! `O(N log N)` per frame instead of `O(N²)` and without the basis's
//! `2 (N/2 + 1) N` weights in memory.

use super::{SavedRows, check_backward, check_forward};
use crate::{Float, Layer, NoGrads, NormError};

/// `y[k][f] = |Σ_n x[f HOP + n] w[n] e^(-2πi k n / N)|` for the bins `k <
/// BINS = N / 2 + 1` and the frames `f < FRAMES = (L - N) / HOP + 1`, `w`
/// the periodic Hann window `0.5 - 0.5 cos(2π n / N)`: PyTorch's
/// `torch.stft(x, N, HOP, window = torch.hann_window(N), center = False,
/// return_complex = True).abs()` on one channel `[[T; L]; 1]`, into
/// `[[T; FRAMES]; BINS]`. It is Silero VAD's `stft` convolution (its
/// `forward_basis_buffer` is this basis: see [`basis`](Self::basis)) followed
/// by the magnitude, computed by a radix-2 FFT (`N` a power of two), two
/// frames per complex transform.
///
/// The values differ from the convolution's by rounding only (the FFT adds
/// `log2 N` roundings per value where the convolution's dot product adds
/// `N`). Backward: `dy` through the magnitude (0 at a zero bin) and the
/// transform's adjoint, summed directly.
///
/// Training vs inference: the same; no parameters, no state (the window
/// and twiddle factors are computed by [`new`](Self::new)). A size that
/// does not fit is a compile error.
#[derive(Clone, Debug, PartialEq)]
pub struct StftMagnitude<
    const N: usize,
    const HOP: usize,
    const L: usize,
    const FRAMES: usize,
    const BINS: usize,
    T = f32,
> {
    /// The periodic Hann window.
    window: [T; N],
    /// `cos(2π j / N)` and `sin(2π j / N)` for `j < N`.
    cos: [T; N],
    sin: [T; N],
}

impl<
    const N: usize,
    const HOP: usize,
    const L: usize,
    const FRAMES: usize,
    const BINS: usize,
    T: Float,
> StftMagnitude<N, HOP, L, FRAMES, BINS, T>
{
    /// The sizes fit (a compile error otherwise).
    const fn check_sizes() {
        assert!(
            N >= 2 && N.is_power_of_two(),
            "StftMagnitude: N must be a power of two"
        );
        assert!(BINS == N / 2 + 1, "StftMagnitude: BINS must be N / 2 + 1");
        assert!(HOP >= 1 && L >= N, "StftMagnitude: HOP >= 1 and L >= N");
        assert!(
            FRAMES == (L - N) / HOP + 1,
            "StftMagnitude: FRAMES must be (L - N) / HOP + 1"
        );
    }

    /// The layer, with its window and twiddle factors (computed in `f64`
    /// and rounded once).
    #[must_use]
    pub fn new() -> Self {
        const { Self::check_sizes() };
        let angle = |j: usize| 2.0 * core::f64::consts::PI * j as f64 / N as f64;
        Self {
            window: core::array::from_fn(|n| T::from_f64(0.5 - 0.5 * libm::cos(angle(n)))),
            cos: core::array::from_fn(|j| T::from_f64(libm::cos(angle(j)))),
            sin: core::array::from_fn(|j| T::from_f64(libm::sin(angle(j)))),
        }
    }

    /// Row `r` (of `2 BINS`), tap `n` of the equivalent convolution's basis,
    /// in `f64`: `w[n] cos(2π r n / N)` for `r < BINS`, `-w[n] sin(2π (r -
    /// BINS) n / N)` after: Silero's `forward_basis_buffer` `[2 BINS, 1, N]`.
    #[must_use]
    pub fn basis(r: usize, n: usize) -> f64 {
        let angle = |j: usize| 2.0 * core::f64::consts::PI * ((j * n) % N) as f64 / N as f64;
        let w = 0.5 - 0.5 * libm::cos(2.0 * core::f64::consts::PI * n as f64 / N as f64);
        if r < BINS {
            w * libm::cos(angle(r))
        } else {
            -w * libm::sin(angle(r - BINS))
        }
    }

    /// The transform of one frame, `re` and `im` (`N` each), in place from
    /// the windowed samples in `re` (and zeros in `im`): an iterative
    /// radix-2 FFT, `e^(-2πi k n / N)`.
    #[inline]
    fn fft(&self, re: &mut [T; N], im: &mut [T; N]) {
        let bits = N.trailing_zeros();
        for i in 0..N {
            let j = i.reverse_bits() >> (usize::BITS - bits);
            if j > i {
                re.swap(i, j);
                im.swap(i, j);
            }
        }
        let mut half = 1;
        while half < N {
            let step = N / (2 * half);
            for start in (0..N).step_by(2 * half) {
                for j in 0..half {
                    let (c, s) = (self.cos[j * step], self.sin[j * step]);
                    let (a, b) = (start + j, start + j + half);
                    // (c - i s) (re + i im)
                    let tr = re[b] * c + im[b] * s;
                    let ti = im[b] * c - re[b] * s;
                    re[b] = re[a] - tr;
                    im[b] = im[a] - ti;
                    re[a] += tr;
                    im[a] += ti;
                }
            }
            half *= 2;
        }
    }
}

impl<
    const N: usize,
    const HOP: usize,
    const L: usize,
    const FRAMES: usize,
    const BINS: usize,
    T: Float,
> Default for StftMagnitude<N, HOP, L, FRAMES, BINS, T>
{
    fn default() -> Self {
        Self::new()
    }
}

// No state-dict entries: the basis is not a parameter (check a file's
// basis against `basis`).
super::no_parameters!(
    [const N: usize, const HOP: usize, const L: usize, const FRAMES: usize, const BINS: usize, T: Float]
    StftMagnitude<N, HOP, L, FRAMES, BINS, T>, scalar = T
);

// SAFETY: `init_at` writes the whole value, `new()` (three arrays of `N`).
unsafe impl<
    const N: usize,
    const HOP: usize,
    const L: usize,
    const FRAMES: usize,
    const BINS: usize,
    T: Float,
> crate::network::InPlace for StftMagnitude<N, HOP, L, FRAMES, BINS, T>
{
    #[inline]
    unsafe fn init_at(p: *mut Self) {
        // SAFETY: the caller's `p` is valid for writes and aligned.
        unsafe { p.write(Self::new()) }
    }
}

impl<
    const N: usize,
    const HOP: usize,
    const L: usize,
    const FRAMES: usize,
    const BINS: usize,
    T: Float,
> Layer for StftMagnitude<N, HOP, L, FRAMES, BINS, T>
{
    type Input = [[T; L]; 1];
    type Output = [[T; FRAMES]; BINS];
    type Saved = SavedRows;
    const EVAL_PER_ROW: bool = true;

    #[inline]
    fn forward_train(
        &mut self,
        x: &[[[T; L]; 1]],
        y: &mut [[[T; FRAMES]; BINS]],
    ) -> Result<SavedRows, NormError> {
        self.forward_eval(x, y)
    }

    fn forward_eval(
        &self,
        x: &[[[T; L]; 1]],
        y: &mut [[[T; FRAMES]; BINS]],
    ) -> Result<SavedRows, NormError> {
        const { Self::check_sizes() };
        let saved = check_forward(x.len(), y.len())?;
        let half = T::from_f64(0.5);
        for ([x], y) in x.iter().zip(y) {
            // Two real frames per complex transform, `z = a + i b`: then
            // `A[k] = (Z[k] + conj Z[N - k]) / 2` and `B[k] = (Z[k] - conj
            // Z[N - k]) / 2i`, half the transforms.
            let mut f = 0;
            while f + 1 < FRAMES {
                let mut re = [T::ZERO; N];
                let mut im = [T::ZERO; N];
                let frames = x[f * HOP..].iter().zip(&x[(f + 1) * HOP..]);
                for (((re, im), (a, b)), w) in
                    re.iter_mut().zip(&mut im).zip(frames).zip(&self.window)
                {
                    *re = *a * *w;
                    *im = *b * *w;
                }
                self.fft(&mut re, &mut im);
                for (k, y) in y.iter_mut().enumerate() {
                    let j = (N - k) % N;
                    let (ar, ai) = ((re[k] + re[j]) * half, (im[k] - im[j]) * half);
                    let (br, bi) = ((im[k] + im[j]) * half, (re[j] - re[k]) * half);
                    y[f] = (ar * ar + ai * ai).sqrt();
                    y[f + 1] = (br * br + bi * bi).sqrt();
                }
                f += 2;
            }
            if f < FRAMES {
                let mut re = [T::ZERO; N];
                let mut im = [T::ZERO; N];
                for ((re, x), w) in re.iter_mut().zip(&x[f * HOP..]).zip(&self.window) {
                    *re = *x * *w;
                }
                self.fft(&mut re, &mut im);
                for (k, y) in y.iter_mut().enumerate() {
                    y[f] = (re[k] * re[k] + im[k] * im[k]).sqrt();
                }
            }
        }
        Ok(saved)
    }

    fn backward(
        &self,
        x: &[[[T; L]; 1]],
        saved: &SavedRows,
        dy: &[[[T; FRAMES]; BINS]],
        dx: &mut [[[T; L]; 1]],
        _: &mut NoGrads,
    ) -> Result<(), NormError> {
        const { Self::check_sizes() };
        check_backward(*saved, x.len(), dy.len(), dx.len())?;
        for (([x], dy), [dx]) in x.iter().zip(dy).zip(dx) {
            *dx = [T::ZERO; L];
            for f in 0..FRAMES {
                let mut re = [T::ZERO; N];
                let mut im = [T::ZERO; N];
                for ((re, x), w) in re.iter_mut().zip(&x[f * HOP..]).zip(&self.window) {
                    *re = *x * *w;
                }
                self.fft(&mut re, &mut im);
                // dre, dim of each bin through the magnitude (0 at 0).
                let mut dre = [T::ZERO; BINS];
                let mut dim = [T::ZERO; BINS];
                for k in 0..BINS {
                    let m = (re[k] * re[k] + im[k] * im[k]).sqrt();
                    if m != T::ZERO {
                        dre[k] = dy[k][f] * re[k] / m;
                        dim[k] = dy[k][f] * im[k] / m;
                    }
                }
                // re[k] = Σ x w cos, im[k] = -Σ x w sin.
                for n in 0..N {
                    let mut sum = T::ZERO;
                    for k in 0..BINS {
                        let j = (k * n) % N;
                        sum += dre[k] * self.cos[j] - dim[k] * self.sin[j];
                    }
                    dx[f * HOP + n] += sum * self.window[n];
                }
            }
        }
        Ok(())
    }
}

/// A unit value (feature `serde`): the layer has no state.
#[cfg(feature = "serde")]
impl<
    const N: usize,
    const HOP: usize,
    const L: usize,
    const FRAMES: usize,
    const BINS: usize,
    T: Float,
> serde::Serialize for StftMagnitude<N, HOP, L, FRAMES, BINS, T>
{
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_unit()
    }
}

/// Accepts a unit value (feature `serde`).
#[cfg(feature = "serde")]
impl<
    'de,
    const N: usize,
    const HOP: usize,
    const L: usize,
    const FRAMES: usize,
    const BINS: usize,
    T: Float,
> serde::Deserialize<'de> for StftMagnitude<N, HOP, L, FRAMES, BINS, T>
{
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        <() as serde::Deserialize>::deserialize(deserializer)?;
        Ok(Self::new())
    }
}
