//! The scalar types a layer can hold.

use core::fmt::{Debug, Display};
use core::ops::{Add, AddAssign, Div, Mul, MulAssign, Neg, Sub, SubAssign};

mod sealed {
    pub trait Sealed {}
    impl Sealed for f32 {}
    impl Sealed for f64 {}
}

/// A floating-point scalar a normalization layer can hold: `f32` or `f64`.
///
/// The kernels compute in the layer's own type, so they vectorize at full
/// width; [`Float::Acc`] (`f64` for both) serves the few places that need a
/// wider type: the running-statistic averages of instance norm, and sums of
/// squares that overflow `f32`.
///
/// The trait is sealed: it is implemented for `f32` and `f64` only.
pub trait Float:
    sealed::Sealed
    + Copy
    + Default
    + PartialEq
    + PartialOrd
    + Debug
    + Display
    + Send
    + Sync
    + 'static
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Div<Output = Self>
    + Neg<Output = Self>
    + AddAssign
    + SubAssign
    + MulAssign
{
    /// The type statistics are accumulated in.
    type Acc: Float<Acc = Self::Acc>;
    /// `0`.
    const ZERO: Self;
    /// `1`.
    const ONE: Self;
    /// The type's name as written in Rust and in the `dtype` argument.
    const NAME: &'static str;

    /// Widens to the accumulator type (exact).
    fn to_acc(self) -> Self::Acc;
    /// Rounds an accumulated value to this type (to nearest).
    fn from_acc(acc: Self::Acc) -> Self;
    /// Rounds an `f64` to this type (to nearest).
    fn from_f64(v: f64) -> Self;
    /// Widens to `f64` (exact).
    fn to_f64(self) -> f64;
    /// Converts a count; exact for counts below 2^24 (f32) or 2^53 (f64).
    fn from_usize(n: usize) -> Self;
    /// The correctly rounded square root.
    fn sqrt(self) -> Self;
    /// The larger of `self` and `other`; `self` if either is NaN.
    fn max(self, other: Self) -> Self;
    /// Neither NaN nor infinite.
    fn is_finite(self) -> bool;
    /// `self * a + b` with one rounding. Fast only where the CPU has fused
    /// multiply-add; the kernels call it only in code compiled for such CPUs.
    fn mul_add(self, a: Self, b: Self) -> Self;
    /// `Σ w[i] x[i]` in eight lanes (lane `k` takes the `i` with `i % 8 ==
    /// k`) by fused multiply-adds, the lanes summed as `((0 + 1) + (2 + 3))
    /// + ((4 + 5) + (6 + 7))`, then the values past the last group of eight:
    /// with AVX2 vector instructions, bit for bit the portable fused code of
    /// the matrix-vector kernels. Not a public API.
    ///
    /// # Safety
    /// On x86-64 the CPU has AVX2 and FMA (elsewhere any CPU).
    #[doc(hidden)]
    unsafe fn dot8_fma(w: &[Self], x: &[Self]) -> Self;
    /// [`dot8_fma`](Self::dot8_fma) of four rows at once. Not a public API.
    ///
    /// # Safety
    /// As `dot8_fma`.
    #[doc(hidden)]
    unsafe fn dot8x4_fma(w: [&[Self]; 4], x: &[Self]) -> [Self; 4];
    /// `m` transposed (`[j][l] = m[l][j]`), with AVX2 shuffles for `f32`.
    /// Not a public API.
    ///
    /// # Safety
    /// On x86-64 the CPU has AVX2 (elsewhere any CPU).
    #[doc(hidden)]
    unsafe fn transpose8_avx2(m: &[[Self; 8]; 8]) -> [[Self; 8]; 8];
    /// `e^self`.
    fn exp(self) -> Self;
    /// The natural logarithm.
    fn ln(self) -> Self;
    /// The hyperbolic tangent.
    fn tanh(self) -> Self;
    /// The error function (from `libm`, which `std` does not have).
    fn erf(self) -> Self;
}

/// `<$t>::$method(args)` from the standard library, or `libm::$libm(args)`
/// without it.
macro_rules! std_or_libm {
    ($t:ty, $method:ident, $libm:ident, $($arg:expr),+) => {{
        #[cfg(feature = "std")]
        {
            <$t>::$method($($arg),+)
        }
        #[cfg(not(feature = "std"))]
        {
            libm::$libm($($arg),+)
        }
    }};
}

macro_rules! impl_float {
    ($t:ident, $libm_sqrt:ident, $libm_fma:ident, $exp:ident, $ln:ident, $tanh:ident, $erf:ident, $dot:ident, $dot4:ident, $transpose:ident) => {
        impl Float for $t {
            type Acc = f64;
            const ZERO: Self = 0.0;
            const ONE: Self = 1.0;
            const NAME: &'static str = stringify!($t);

            #[inline(always)]
            fn to_acc(self) -> f64 {
                f64::from(self)
            }
            #[inline(always)]
            #[allow(clippy::cast_possible_truncation, clippy::unnecessary_cast)]
            fn from_acc(acc: f64) -> Self {
                acc as $t
            }
            #[inline(always)]
            #[allow(clippy::cast_possible_truncation, clippy::unnecessary_cast)]
            fn from_f64(v: f64) -> Self {
                v as $t
            }
            #[inline(always)]
            fn to_f64(self) -> f64 {
                f64::from(self)
            }
            #[inline(always)]
            #[allow(clippy::cast_precision_loss)]
            fn from_usize(n: usize) -> Self {
                n as $t
            }
            #[inline(always)]
            fn sqrt(self) -> Self {
                std_or_libm!($t, sqrt, $libm_sqrt, self)
            }
            #[inline(always)]
            fn max(self, other: Self) -> Self {
                if other > self { other } else { self }
            }
            #[inline(always)]
            fn is_finite(self) -> bool {
                <$t>::is_finite(self)
            }
            #[inline(always)]
            fn mul_add(self, a: Self, b: Self) -> Self {
                std_or_libm!($t, mul_add, $libm_fma, self, a, b)
            }
            #[inline(always)]
            unsafe fn dot8_fma(w: &[Self], x: &[Self]) -> Self {
                // SAFETY: the caller's contract is the callee's.
                unsafe { crate::kernels::simd::$dot(w, x) }
            }
            #[inline(always)]
            unsafe fn dot8x4_fma(w: [&[Self]; 4], x: &[Self]) -> [Self; 4] {
                // SAFETY: the caller's contract is the callee's.
                unsafe { crate::kernels::simd::$dot4(w, x) }
            }
            #[inline(always)]
            unsafe fn transpose8_avx2(m: &[[Self; 8]; 8]) -> [[Self; 8]; 8] {
                // SAFETY: the caller's contract is the callee's.
                unsafe { crate::kernels::simd::$transpose(m) }
            }
            #[inline]
            fn exp(self) -> Self {
                std_or_libm!($t, exp, $exp, self)
            }
            #[inline]
            fn ln(self) -> Self {
                std_or_libm!($t, ln, $ln, self)
            }
            #[inline]
            fn tanh(self) -> Self {
                $tanh(self)
            }
            #[inline]
            fn erf(self) -> Self {
                libm::$erf(self)
            }
        }
    };
}

impl_float!(
    f32,
    sqrtf,
    fmaf,
    expf,
    logf,
    tanh_f32,
    erff,
    dot8_f32,
    dot8x4_f32,
    transpose8_f32
);
impl_float!(
    f64,
    sqrt,
    fma,
    exp,
    log,
    tanh_f64,
    erf,
    dot8_f64,
    dot8x4_f64,
    transpose8_f64
);

/// `tanh` of an `f32`, evaluated in `f64` as `(e^2x - 1) / (e^2x + 1)` and
/// rounded once: the cancellation in `e^2x - 1` costs at most `1e-16 /
/// |2x|` relative error in `f64`, far below half an `f32` ulp for `|x| >
/// 2^-20`, and below that `tanh(x)` rounds to `x`. Faster than the C
/// library's `tanhf`, which goes through `expm1f` (the GRU step of
/// `benches/sequence.rs` went from 4.8 to 3.6 µs), and as accurate; the
/// recurrent cells call it for every gate.
#[inline]
fn tanh_f32(x: f32) -> f32 {
    let a = x.abs();
    if a < 1.0 / 1_048_576.0 {
        return x;
    }
    if a > 10.0 {
        // |tanh| rounds to 1 in f32 well before this.
        return 1.0_f32.copysign(x);
    }
    let e = std_or_libm!(f64, exp, exp, 2.0 * f64::from(x));
    #[allow(clippy::cast_possible_truncation)]
    let t = ((e - 1.0) / (e + 1.0)) as f32;
    t
}

/// `tanh` of an `f64`, from the standard library or `libm`.
#[inline]
fn tanh_f64(x: f64) -> f64 {
    std_or_libm!(f64, tanh, tanh, x)
}

#[cfg(test)]
mod tests {
    /// `tanh_f32` is within one ulp of the `f64` tanh rounded to `f32`,
    /// over a sweep from 1e-9 to 20 of both signs (exact at the ends).
    #[test]
    fn tanh_f32_is_as_accurate_as_f32_allows() {
        let mut x = 1e-9_f32;
        let mut worst = 0_u32;
        while x < 20.0 {
            for x in [x, -x] {
                let ours = super::tanh_f32(x);
                #[allow(clippy::cast_possible_truncation)]
                let truth = f64::from(x).tanh() as f32;
                let ulps = ours.to_bits().abs_diff(truth.to_bits());
                worst = worst.max(ulps);
                assert!(ulps <= 1, "tanh({x}) = {ours}, correctly rounded {truth}");
            }
            x *= 1.0001;
        }
        assert_eq!(super::tanh_f32(0.0), 0.0);
        assert_eq!(super::tanh_f32(1e30), 1.0);
        assert_eq!(super::tanh_f32(-1e30), -1.0);
        assert!(super::tanh_f32(f32::NAN).is_nan());
    }
}
