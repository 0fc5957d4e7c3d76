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
    ($t:ident, $libm_sqrt:ident, $libm_fma:ident, $exp:ident, $ln:ident, $tanh:ident, $erf:ident, $dot:ident, $dot4:ident) => {
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
                std_or_libm!($t, tanh, $tanh, self)
            }
            #[inline]
            fn erf(self) -> Self {
                libm::$erf(self)
            }
        }
    };
}

impl_float!(
    f32, sqrtf, fmaf, expf, logf, tanhf, erff, dot8_f32, dot8x4_f32
);
impl_float!(f64, sqrt, fma, exp, log, tanh, erf, dot8_f64, dot8x4_f64);
