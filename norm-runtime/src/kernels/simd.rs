//! Explicit AVX2 + FMA code where the compiler's own vectorization of the
//! portable code goes wrong: the dot products of the matrix-vector kernels
//! ([`matvec`](super::matvec)), which it vectorizes across rows (gathering
//! strided values) instead of along one row. Each function computes exactly
//! the portable fused code's operations in the same order, so the bits do
//! not depend on which one runs.

use crate::Float;

/// The portable fused code: eight lanes, the lane sums, the tail.
#[cfg_attr(target_arch = "x86_64", allow(dead_code))]
#[inline(always)]
fn portable<T: Float>(w: &[T], x: &[T]) -> T {
    let n = w.len().min(x.len());
    let mut acc = [T::ZERO; 8];
    for (xc, wc) in x[..n].chunks_exact(8).zip(w[..n].chunks_exact(8)) {
        for k in 0..8 {
            acc[k] = xc[k].mul_add(wc[k], acc[k]);
        }
    }
    tail(acc, w, x, n - n % 8, n)
}

/// The lanes summed, then `x[from..n] · w[from..n]` fused onto the sum.
#[inline(always)]
fn tail<T: Float>(acc: [T; 8], w: &[T], x: &[T], from: usize, n: usize) -> T {
    let mut sum = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
    for (x, w) in x[from..n].iter().zip(&w[from..n]) {
        sum = x.mul_add(*w, sum);
    }
    sum
}

/// [`Float::dot8_fma`] for `f32`: one 8-lane register.
///
/// # Safety
/// On x86-64 the CPU has AVX2 and FMA.
#[inline]
pub(crate) unsafe fn dot8_f32(w: &[f32], x: &[f32]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: the caller's contract.
        unsafe { dot8_f32_avx2(w, x) }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        portable(w, x)
    }
}

/// [`Float::dot8_fma`] for `f64`: two 4-lane registers (lanes 0-3, 4-7).
///
/// # Safety
/// On x86-64 the CPU has AVX2 and FMA.
#[inline]
pub(crate) unsafe fn dot8_f64(w: &[f64], x: &[f64]) -> f64 {
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: the caller's contract.
        unsafe { dot8_f64_avx2(w, x) }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        portable(w, x)
    }
}

/// [`dot8_f32`] of four rows at once (four independent chains of
/// multiply-adds keep the FMA units busy); each row's bits are `dot8_f32`'s.
///
/// # Safety
/// On x86-64 the CPU has AVX2 and FMA.
#[inline]
pub(crate) unsafe fn dot8x4_f32(w: [&[f32]; 4], x: &[f32]) -> [f32; 4] {
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: the caller's contract.
        unsafe { dot8x4_f32_avx2(w, x) }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        w.map(|w| portable(w, x))
    }
}

/// [`dot8_f64`] of four rows at once; each row's bits are `dot8_f64`'s.
///
/// # Safety
/// On x86-64 the CPU has AVX2 and FMA.
#[inline]
pub(crate) unsafe fn dot8x4_f64(w: [&[f64]; 4], x: &[f64]) -> [f64; 4] {
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: the caller's contract.
        unsafe { dot8x4_f64_avx2(w, x) }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        w.map(|w| portable(w, x))
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn dot8x4_f32_avx2(w: [&[f32]; 4], x: &[f32]) -> [f32; 4] {
    use core::arch::x86_64::{
        _mm256_fmadd_ps, _mm256_loadu_ps, _mm256_setzero_ps, _mm256_storeu_ps,
    };
    let n = w.iter().fold(x.len(), |n, w| n.min(w.len()));
    let mut acc = [_mm256_setzero_ps(); 4];
    let mut i = 0;
    while i + 8 <= n {
        // SAFETY: `i + 8 <= n`, within every slice; unaligned loads.
        unsafe {
            let a = _mm256_loadu_ps(x.as_ptr().add(i));
            for r in 0..4 {
                acc[r] = _mm256_fmadd_ps(a, _mm256_loadu_ps(w[r].as_ptr().add(i)), acc[r]);
            }
        }
        i += 8;
    }
    let mut out = [0.0_f32; 4];
    for r in 0..4 {
        let mut lanes = [0.0_f32; 8];
        // SAFETY: `lanes` holds eight values.
        unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), acc[r]) };
        out[r] = tail(lanes, w[r], x, i, n);
    }
    out
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn dot8x4_f64_avx2(w: [&[f64]; 4], x: &[f64]) -> [f64; 4] {
    use core::arch::x86_64::{
        _mm256_fmadd_pd, _mm256_loadu_pd, _mm256_setzero_pd, _mm256_storeu_pd,
    };
    let n = w.iter().fold(x.len(), |n, w| n.min(w.len()));
    let mut acc = [[_mm256_setzero_pd(); 2]; 4];
    let mut i = 0;
    while i + 8 <= n {
        // SAFETY: `i + 8 <= n`, within every slice; unaligned loads.
        unsafe {
            let (lo, hi) = (
                _mm256_loadu_pd(x.as_ptr().add(i)),
                _mm256_loadu_pd(x.as_ptr().add(i + 4)),
            );
            for r in 0..4 {
                let p = w[r].as_ptr().add(i);
                acc[r][0] = _mm256_fmadd_pd(lo, _mm256_loadu_pd(p), acc[r][0]);
                acc[r][1] = _mm256_fmadd_pd(hi, _mm256_loadu_pd(p.add(4)), acc[r][1]);
            }
        }
        i += 8;
    }
    let mut out = [0.0_f64; 4];
    for r in 0..4 {
        let mut lanes = [0.0_f64; 8];
        // SAFETY: `lanes` holds eight values, four per store.
        unsafe {
            _mm256_storeu_pd(lanes.as_mut_ptr(), acc[r][0]);
            _mm256_storeu_pd(lanes.as_mut_ptr().add(4), acc[r][1]);
        }
        out[r] = tail(lanes, w[r], x, i, n);
    }
    out
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn dot8_f32_avx2(w: &[f32], x: &[f32]) -> f32 {
    use core::arch::x86_64::{
        _mm256_fmadd_ps, _mm256_loadu_ps, _mm256_setzero_ps, _mm256_storeu_ps,
    };
    let n = w.len().min(x.len());
    let mut acc = _mm256_setzero_ps();
    let mut i = 0;
    while i + 8 <= n {
        // SAFETY: `i + 8 <= n`, within both slices; unaligned loads.
        unsafe {
            let a = _mm256_loadu_ps(x.as_ptr().add(i));
            let b = _mm256_loadu_ps(w.as_ptr().add(i));
            acc = _mm256_fmadd_ps(a, b, acc);
        }
        i += 8;
    }
    let mut lanes = [0.0_f32; 8];
    // SAFETY: `lanes` holds eight values.
    unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), acc) };
    tail(lanes, w, x, i, n)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn dot8_f64_avx2(w: &[f64], x: &[f64]) -> f64 {
    use core::arch::x86_64::{
        _mm256_fmadd_pd, _mm256_loadu_pd, _mm256_setzero_pd, _mm256_storeu_pd,
    };
    let n = w.len().min(x.len());
    let (mut lo, mut hi) = (_mm256_setzero_pd(), _mm256_setzero_pd());
    let mut i = 0;
    while i + 8 <= n {
        // SAFETY: `i + 8 <= n`, within both slices; unaligned loads.
        unsafe {
            lo = _mm256_fmadd_pd(
                _mm256_loadu_pd(x.as_ptr().add(i)),
                _mm256_loadu_pd(w.as_ptr().add(i)),
                lo,
            );
            let (x4, w4) = (x.as_ptr().add(i + 4), w.as_ptr().add(i + 4));
            hi = _mm256_fmadd_pd(_mm256_loadu_pd(x4), _mm256_loadu_pd(w4), hi);
        }
        i += 8;
    }
    let mut lanes = [0.0_f64; 8];
    // SAFETY: `lanes` holds eight values, four per store.
    unsafe {
        _mm256_storeu_pd(lanes.as_mut_ptr(), lo);
        _mm256_storeu_pd(lanes.as_mut_ptr().add(4), hi);
    }
    tail(lanes, w, x, i, n)
}

/// `m` transposed (`[j][l] = m[l][j]`), portably: exact whatever the code,
/// since nothing is computed.
#[inline(always)]
pub(crate) fn transpose8_portable<T: Copy>(m: &[[T; 8]; 8]) -> [[T; 8]; 8] {
    core::array::from_fn(|j| core::array::from_fn(|l| m[l][j]))
}

/// [`Float::transpose8_avx2`] for `f64`: the portable loops, which the
/// compiler turns into shuffles of 4-lane registers well enough.
///
/// # Safety
/// None needed; `unsafe` for the trait's signature.
#[inline(always)]
pub(crate) unsafe fn transpose8_f64(m: &[[f64; 8]; 8]) -> [[f64; 8]; 8] {
    transpose8_portable(m)
}

/// [`Float::transpose8_avx2`] for `f32`: 8 loads, 24 shuffles, 8 stores.
/// The compiler's code for the portable loops moved values one at a time
/// through the stack: a third of a depthwise layer's time went there
/// (perf, KWS's 25x5 depthwise convolution with eight channels a vector).
///
/// # Safety
/// On x86-64 the CPU has AVX2.
#[inline]
pub(crate) unsafe fn transpose8_f32(m: &[[f32; 8]; 8]) -> [[f32; 8]; 8] {
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: the caller's contract.
        unsafe { transpose8_f32_avx2(m) }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        transpose8_portable(m)
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn transpose8_f32_avx2(m: &[[f32; 8]; 8]) -> [[f32; 8]; 8] {
    use core::arch::x86_64::{
        _mm256_loadu_ps, _mm256_permute2f128_ps, _mm256_shuffle_ps, _mm256_storeu_ps,
        _mm256_unpackhi_ps, _mm256_unpacklo_ps,
    };
    // SAFETY: each row holds eight values; unaligned loads.
    let r = m.map(|row| unsafe { _mm256_loadu_ps(row.as_ptr()) });
    // Pairs of rows interleaved: [r0[0], r1[0], r0[1], r1[1] | r0[4], ...].
    let t = [
        _mm256_unpacklo_ps(r[0], r[1]),
        _mm256_unpackhi_ps(r[0], r[1]),
        _mm256_unpacklo_ps(r[2], r[3]),
        _mm256_unpackhi_ps(r[2], r[3]),
        _mm256_unpacklo_ps(r[4], r[5]),
        _mm256_unpackhi_ps(r[4], r[5]),
        _mm256_unpacklo_ps(r[6], r[7]),
        _mm256_unpackhi_ps(r[6], r[7]),
    ];
    // Quads: [r0[j], r1[j], r2[j], r3[j] | the same for j + 4].
    let q = [
        _mm256_shuffle_ps::<0x44>(t[0], t[2]),
        _mm256_shuffle_ps::<0xEE>(t[0], t[2]),
        _mm256_shuffle_ps::<0x44>(t[1], t[3]),
        _mm256_shuffle_ps::<0xEE>(t[1], t[3]),
        _mm256_shuffle_ps::<0x44>(t[4], t[6]),
        _mm256_shuffle_ps::<0xEE>(t[4], t[6]),
        _mm256_shuffle_ps::<0x44>(t[5], t[7]),
        _mm256_shuffle_ps::<0xEE>(t[5], t[7]),
    ];
    // Column j: rows 0-3 from q[j % 4], rows 4-7 from q[4 + j % 4], the low
    // halves for j < 4 and the high ones after.
    let c = [
        _mm256_permute2f128_ps::<0x20>(q[0], q[4]),
        _mm256_permute2f128_ps::<0x20>(q[1], q[5]),
        _mm256_permute2f128_ps::<0x20>(q[2], q[6]),
        _mm256_permute2f128_ps::<0x20>(q[3], q[7]),
        _mm256_permute2f128_ps::<0x31>(q[0], q[4]),
        _mm256_permute2f128_ps::<0x31>(q[1], q[5]),
        _mm256_permute2f128_ps::<0x31>(q[2], q[6]),
        _mm256_permute2f128_ps::<0x31>(q[3], q[7]),
    ];
    let mut out = [[0.0_f32; 8]; 8];
    for (row, v) in out.iter_mut().zip(c) {
        // SAFETY: each row holds eight values; unaligned stores.
        unsafe { _mm256_storeu_ps(row.as_mut_ptr(), v) };
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The vector code gives the portable fused code's bits.
    #[test]
    fn vector_dots_are_the_portable_fused_dots() {
        if !std::is_x86_feature_detected!("avx2") || !std::is_x86_feature_detected!("fma") {
            return;
        }
        for n in [0, 1, 7, 8, 9, 64, 100] {
            let w: Vec<f64> = (0..n).map(|i| ((i * 7 + 3) as f64).sin() * 1e3).collect();
            let x: Vec<f64> = (0..n).map(|i| ((i * 5 + 1) as f64).cos()).collect();
            // SAFETY: AVX2 and FMA were detected above.
            assert_eq!(
                unsafe { dot8_f64(&w, &x) }.to_bits(),
                portable(&w, &x).to_bits()
            );
            let rows = [&w[..], &x[..], &w[..], &x[..]];
            // SAFETY: as above.
            let four = unsafe { dot8x4_f64(rows, &x) };
            for (r, row) in rows.iter().enumerate() {
                assert_eq!(four[r].to_bits(), portable(row, &x).to_bits());
            }
            let (w, x): (Vec<f32>, Vec<f32>) = w
                .iter()
                .zip(&x)
                .map(|(a, b)| (*a as f32, *b as f32))
                .unzip();
            // SAFETY: as above.
            assert_eq!(
                unsafe { dot8_f32(&w, &x) }.to_bits(),
                portable(&w, &x).to_bits()
            );
            let rows = [&x[..], &w[..], &w[..], &x[..]];
            // SAFETY: as above.
            let four = unsafe { dot8x4_f32(rows, &x) };
            for (r, row) in rows.iter().enumerate() {
                assert_eq!(four[r].to_bits(), portable(row, &x).to_bits());
            }
        }
    }

    /// The shuffles move every value where the transpose puts it.
    #[test]
    fn vector_transpose_is_the_transpose() {
        if !std::is_x86_feature_detected!("avx2") {
            return;
        }
        let m: [[f32; 8]; 8] =
            core::array::from_fn(|l| core::array::from_fn(|j| (l * 8 + j) as f32));
        // SAFETY: AVX2 was detected above.
        let t = unsafe { transpose8_f32(&m) };
        for (j, row) in t.iter().enumerate() {
            for (l, v) in row.iter().enumerate() {
                assert_eq!(*v, m[l][j], "[{j}][{l}]");
            }
        }
        let m64 = m.map(|row| row.map(f64::from));
        // SAFETY: none needed for f64.
        assert_eq!(
            unsafe { transpose8_f64(&m64) },
            t.map(|row| row.map(f64::from))
        );
    }
}
