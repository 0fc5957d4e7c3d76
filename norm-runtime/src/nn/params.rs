//! One declaration of a layer's parameter arrays, from which [`Parameters`],
//! [`Gradients`], [`StateDict`] and serde are written: the recurrent cells,
//! attention and embeddings use it, so adding a layer means listing its
//! arrays once (field, PyTorch key, PyTorch shape, and whether it exists).
//! `parameter_arrays!` is for layers of arrays, `composite_layer!` for
//! layers of arrays and sub-layers (attention, the encoder block), and
//! `zeroed_in_place!` builds either on the heap.
//!
//! [`Parameters`]: crate::Parameters
//! [`Gradients`]: crate::Gradients
//! [`StateDict`]: crate::StateDict

/// `parameter_arrays! { impl[generics] Layer, grads Grads, scalar T, name "Name";
/// reset(layer, rng) { .. } field: "key", shape [dims], if enabled; ... }`
/// writes, for a layer struct
/// and a gradient struct that both have the listed fields (nested arrays of
/// `T`):
///
/// - `Gradients for Grads` (`ARRAYS` is the number of fields; a disabled
///   array, such as a bias under `bias = false`, is empty), `Default` (zeros);
/// - `Parameters::parameter`/`parameter_mut` in the same order, with
///   `reset_parameters` from the given block;
/// - `StateDict` under the keys and shapes given (disabled arrays are not
///   visited), and serde under the same names (feature `serde`).
///
/// A field's shape is PyTorch's (`[3 * H, I]` for a GRU's `weight_ih`,
/// stored as `[[[T; I]; H]; 3]`); the flat lengths must agree. A gradient
/// struct whose generics need a `PhantomData` names it with `marker field`.
/// The generated methods' own generics end in `_` (`Rng_`, `Ser_`, `De_`),
/// so a layer may name its generics anything else (`S`, `D`, `R`).
macro_rules! parameter_arrays {
    (
        impl[$($g:tt)*] $layer:ty, grads $grads:ty $(, marker $marker:ident)?, scalar $t:ty, name $name:literal;
        reset($self_:ident, $rng:ident) $reset:block
        $( $field:ident: $key:literal, shape [$($dim:expr),+] $(, if $on:expr)?; )+
    ) => {
        impl<$($g)*> $layer {
            /// PyTorch's shapes of the arrays, in order.
            const PARAMETER_SHAPES: &'static [&'static [usize]] = &[$(&[$($dim),+]),+];
            /// The keys of the arrays, in order.
            const PARAMETER_KEYS: &'static [&'static str] = &[$($key),+];
            /// Whether each array exists (a disabled bias does not).
            const PARAMETER_ON: &'static [bool] = &[$($crate::nn::params::on!($($on)?)),+];
        }

        impl<$($g)*> Default for $grads {
            fn default() -> Self {
                Self { $($field: $crate::Row::ZERO,)+ $($marker: ::core::marker::PhantomData)? }
            }
        }

        // SAFETY: `init_at` writes every field of the gradient struct (the
        // listed arrays, which `Default` above also names, and the
        // zero-sized marker): each array is of `f32` or `f64` (the sealed
        // `Float`, checked by `float_array`), for which all-zero bytes are
        // the value 0.0. So a valid value, equal to `Default`, is left at
        // `p`, with no copy of it on the stack.
        unsafe impl<$($g)*> $crate::network::InPlace for $grads {
            #[inline]
            unsafe fn init_at(p: *mut Self) {
                // SAFETY: the caller's `p` is valid for writes and aligned,
                // and so is each field's place in it.
                unsafe {
                    $(
                        let field = ::core::ptr::addr_of_mut!((*p).$field);
                        $crate::nn::params::float_array(field);
                        field.write_bytes(0, 1);
                    )+
                    $( ::core::ptr::addr_of_mut!((*p).$marker).write(::core::marker::PhantomData); )?
                }
            }
        }

        impl<$($g)*> $crate::Gradients<$t> for $grads {
            const ARRAYS: usize = <$layer>::PARAMETER_KEYS.len();

            #[inline]
            fn array(&self, i: usize) -> &[$t] {
                $crate::nn::params::array_at!(<$layer>::PARAMETER_ON, i, as_flat, &[]; $(&self.$field),+)
            }

            #[inline]
            fn array_mut(&mut self, i: usize) -> &mut [$t] {
                $crate::nn::params::array_at!(<$layer>::PARAMETER_ON, i, as_flat_mut, &mut []; $(&mut self.$field),+)
            }
        }

        impl<$($g)*> $crate::Parameters for $layer {
            type Scalar = $t;
            type Grads = $grads;

            #[inline]
            fn parameter(&self, i: usize) -> &[$t] {
                $crate::nn::params::array_at!(Self::PARAMETER_ON, i, as_flat, &[]; $(&self.$field),+)
            }

            #[inline]
            fn parameter_mut(&mut self, i: usize) -> &mut [$t] {
                $crate::nn::params::array_at!(Self::PARAMETER_ON, i, as_flat_mut, &mut []; $(&mut self.$field),+)
            }

            fn reset_parameters<Rng_: rand::Rng + ?Sized>(&mut self, rng: &mut Rng_) {
                let $self_ = self;
                let $rng = rng;
                $reset
            }
        }

        impl<$($g)*> $crate::StateDict for $layer {
            type Scalar = $t;

            fn visit_arrays(&self, f: &mut $crate::Visit<'_, $t>) {
                let mut k = 0;
                $(
                    if Self::PARAMETER_ON[k] {
                        f(
                            &$crate::Key::leaf($key),
                            Self::PARAMETER_SHAPES[k],
                            $crate::Row::as_flat(&self.$field),
                        );
                    }
                    k += 1;
                )+
                let _ = k;
            }

            fn visit_arrays_mut(&mut self, f: &mut $crate::VisitMut<'_, $t>) {
                let mut k = 0;
                $(
                    if Self::PARAMETER_ON[k] {
                        f(
                            &$crate::Key::leaf($key),
                            Self::PARAMETER_SHAPES[k],
                            $crate::Row::as_flat_mut(&mut self.$field),
                        );
                    }
                    k += 1;
                )+
                let _ = k;
            }

            fn visit_counters(&self, _: &mut $crate::VisitCounter<'_>) {}

            fn visit_counters_mut(&mut self, _: &mut $crate::VisitCounterMut<'_>) {}
        }

        /// Under PyTorch's state-dict names and shapes (feature `serde`).
        #[cfg(feature = "serde")]
        impl<$($g)*> serde::Serialize for $layer
        where
            $t: serde::Serialize,
        {
            fn serialize<Ser_: serde::Serializer>(
                &self,
                serializer: Ser_,
            ) -> Result<Ser_::Ok, Ser_::Error> {
                let mut fields = [$(
                    ($key, $crate::Row::as_flat(&self.$field), &[] as &'static [usize])
                ),+];
                let n = $crate::nn::params::enabled(&mut fields, Self::PARAMETER_SHAPES, Self::PARAMETER_ON);
                $crate::serde_layer::serialize::<Ser_, $t>(serializer, $name, &fields[..n], &[])
            }
        }

        /// Missing, unknown or duplicate fields and wrong lengths are errors
        /// (feature `serde`).
        #[cfg(feature = "serde")]
        impl<'de, $($g)*> serde::Deserialize<'de> for $layer
        where
            $t: serde::Deserialize<'de>,
        {
            fn deserialize<De_: serde::Deserializer<'de>>(
                deserializer: De_,
            ) -> Result<Self, De_::Error> {
                let mut layer = Self::new();
                let mut fields = [$(
                    ($key, $crate::Row::as_flat_mut(&mut layer.$field), &[] as &'static [usize])
                ),+];
                let n = $crate::nn::params::enabled(&mut fields, Self::PARAMETER_SHAPES, Self::PARAMETER_ON);
                $crate::serde_layer::deserialize::<De_, $t>(deserializer, $name, &mut fields[..n], &mut [])?;
                Ok(layer)
            }
        }
    };
}
pub(crate) use parameter_arrays;

/// `return`s array `i` of the listed places from the enclosing method, or
/// the empty slice when that array is disabled (`on[i]` false); the empty
/// slice past the last one.
macro_rules! array_at {
    ($on:expr, $i:expr, $get:ident, $empty:expr; $($place:expr),+) => {{
        let mut k = 0;
        $(
            if $i == k {
                return if $on[k] { $crate::Row::$get($place) } else { $empty };
            }
            k += 1;
        )+
        let _ = k;
        $empty
    }};
}
pub(crate) use array_at;

/// `true` unless a condition is given.
macro_rules! on {
    () => {
        true
    };
    ($on:expr) => {
        $on
    };
}
pub(crate) use on;

/// Fills in each field's shape and moves the enabled fields to the front,
/// in order; returns how many there are.
#[cfg(feature = "serde")]
pub(crate) fn enabled<V>(
    fields: &mut [(&'static str, V, &'static [usize])],
    shapes: &[&'static [usize]],
    on: &[bool],
) -> usize {
    let mut n = 0;
    for i in 0..fields.len() {
        if on[i] {
            fields[i].2 = shapes[i];
            fields.swap(n, i);
            n += 1;
        }
    }
    n
}

/// `zeroed_in_place! { impl[generics] Layer { zero: a, b, ..; one: c, ..;
/// nested: d, ..; marker: m; } }` (each part optional): `InPlace` and
/// `new_boxed()` for a layer whose fields are exactly the listed float
/// arrays (every one zeroed, then the `one` fields, such as layer-norm
/// gains, set to 1), sub-layers that are `InPlace` themselves (`nested`,
/// built by their own `init_at`) and a `PhantomData` `marker`, so the layer
/// is built on the heap with no copy on the stack, as `new()` builds it. A
/// field left out of the list is a compile error (the struct pattern below
/// is exhaustive), which is what makes the `unsafe impl` sound.
macro_rules! zeroed_in_place {
    (
        impl[$($g:tt)*] $layer:ty {
            $(zero: $($field:ident),+;)?
            $(one: $($one:ident),+;)?
            $(nested: $($nested:ident),+;)?
            $(set: $($set:ident = $value:expr),+;)?
            $(marker: $marker:ident;)?
        }
    ) => {
        impl<$($g)*> $layer {
            /// Compiles only if the list names every field.
            #[allow(dead_code)]
            fn every_field_is_listed(&self) {
                let Self { $($($field: _,)+)? $($($nested: _,)+)? $($($set: _,)+)? $($marker: _)? } = self;
            }

            /// [`new`](Self::new) built straight on the heap, with no copy
            /// on the stack: for layers too large for it, in debug builds
            /// and on small thread stacks.
            #[cfg(feature = "std")]
            #[must_use]
            pub fn new_boxed() -> Box<Self> {
                $crate::network::boxed::<Self>()
            }
        }

        // SAFETY: the exhaustive pattern in `every_field_is_listed` proves
        // the listed fields are all of them; each is an array of `f32` or
        // `f64` (the sealed `Float`), for which all-zero bytes are the value
        // 0.0, a sub-layer whose own `init_at` leaves a valid value, a `set`
        // field written with a value of its type, or the zero-sized
        // `marker`. So after `init_at` every field holds a valid
        // value.
        unsafe impl<$($g)*> $crate::network::InPlace for $layer {
            #[inline]
            unsafe fn init_at(p: *mut Self) {
                // SAFETY: the caller's `p` is valid for writes and aligned,
                // and so is each field's place in it.
                unsafe {
                    $($(
                        let field = ::core::ptr::addr_of_mut!((*p).$field);
                        $crate::nn::params::float_array(field);
                        field.write_bytes(0, 1);
                    )+)?
                    $($( $crate::network::InPlace::init_at(::core::ptr::addr_of_mut!((*p).$nested)); )+)?
                    $($( ::core::ptr::addr_of_mut!((*p).$set).write($value); )+)?
                    $( ::core::ptr::addr_of_mut!((*p).$marker).write(::core::marker::PhantomData); )?
                    $($(
                        let one = &mut *::core::ptr::addr_of_mut!((*p).$one);
                        $crate::Row::as_flat_mut(one).fill($crate::Float::ONE);
                    )+)?
                }
            }
        }
    };
}
pub(crate) use zeroed_in_place;

/// Compiles only for a pointer to an array of floats (a [`Row`]), for which
/// all-zero bytes are a valid value: the check `zeroed_in_place!` puts on
/// every `zero:` field.
///
/// [`Row`]: crate::Row
#[inline(always)]
pub(crate) fn float_array<R: crate::Row>(_: *mut R) {}

/// The impls of a layer built from parameter arrays of its own and from
/// sub-layers (attention, the transformer block), composed as `#[network]`
/// composes a network's:
///
/// ```text
/// composite_layer! {
///     impl[generics] Layer<..>, grads[generics] Grads<..>, scalar T;
///     reset(layer, rng) { .. }
///     arrays { field: "key", shape [dims], if enabled; .. }
///     layers { field: "key", grads SubGrads<..>, first n; .. }
/// }
/// ```
///
/// writes `Parameters` (with `reset_parameters` from the block), `Gradients`
/// and `Default` (zeros) for the gradient struct, which has the layer's field
/// names (own arrays as arrays, sub-layers as their gradient types), and
/// `StateDict`. The own arrays come first, under their keys and PyTorch's
/// shapes, a disabled one (`if`) empty and not in the state dict, as with
/// [`parameter_arrays!`]; then each sub-layer's arrays in
/// field order under `key.` and its own keys (`out_proj.weight`). `first n`
/// keeps only a sub-layer's first `n` arrays (a `Linear` whose bias the layer
/// does not have); the layer keeps the others zero.
macro_rules! composite_layer {
    (
        impl[$($g:tt)*] $layer:ty, grads[$($gg:tt)*] $grads:ty, scalar $t:ty;
        reset($self_:ident, $rng:ident) $reset:block
        arrays { $( $a:ident: $akey:literal, shape [$($dim:expr),+] $(, if $on:expr)?; )* }
        layers { $( $l:ident: $lkey:literal, grads $lg:ty $(, first $n:expr)?; )* }
    ) => {
        impl<$($g)*> $layer {
            /// PyTorch's shapes of the layer's own arrays, in order.
            const OWN_SHAPES: &'static [&'static [usize]] = &[$(&[$($dim),+]),*];
        }

        impl<$($gg)*> Default for $grads {
            fn default() -> Self {
                Self { $($a: $crate::Row::ZERO,)* $($l: Default::default(),)* }
            }
        }

        impl<$($gg)*> $crate::Gradients<$t> for $grads {
            const ARRAYS: usize = <[&str]>::len(&[$(stringify!($a)),*])
                $(+ $crate::nn::params::composite_layer!(@count $t, $lg $(, $n)?))*;

            #[inline]
            fn array(&self, i: usize) -> &[$t] {
                $crate::nn::params::composite_layer!(@index i, $t, &[];
                    [$($crate::nn::params::on!($($on)?) => $crate::Row::as_flat(&self.$a)),*];
                    [$($lg $(| $n)? => $crate::Gradients::<$t>::array(&self.$l, i)),*])
            }

            #[inline]
            fn array_mut(&mut self, i: usize) -> &mut [$t] {
                $crate::nn::params::composite_layer!(@index i, $t, &mut [];
                    [$($crate::nn::params::on!($($on)?) => $crate::Row::as_flat_mut(&mut self.$a)),*];
                    [$($lg $(| $n)? => $crate::Gradients::<$t>::array_mut(&mut self.$l, i)),*])
            }
        }

        impl<$($g)*> $crate::Parameters for $layer {
            type Scalar = $t;
            type Grads = $grads;

            #[inline]
            fn parameter(&self, i: usize) -> &[$t] {
                $crate::nn::params::composite_layer!(@index i, $t, &[];
                    [$($crate::nn::params::on!($($on)?) => $crate::Row::as_flat(&self.$a)),*];
                    [$($lg $(| $n)? => $crate::Parameters::parameter(&self.$l, i)),*])
            }

            #[inline]
            fn parameter_mut(&mut self, i: usize) -> &mut [$t] {
                $crate::nn::params::composite_layer!(@index i, $t, &mut [];
                    [$($crate::nn::params::on!($($on)?) => $crate::Row::as_flat_mut(&mut self.$a)),*];
                    [$($lg $(| $n)? => $crate::Parameters::parameter_mut(&mut self.$l, i)),*])
            }

            fn reset_parameters<R: rand::Rng + ?Sized>(&mut self, rng: &mut R) {
                let $self_ = self;
                let $rng = rng;
                $reset
            }
        }

        impl<$($g)*> $crate::StateDict for $layer {
            type Scalar = $t;

            fn visit_arrays(&self, f: &mut $crate::Visit<'_, $t>) {
                let shapes = Self::OWN_SHAPES.iter();
                $(
                    let (shape, shapes) = $crate::nn::params::composite_layer!(@next shapes);
                    if $crate::nn::params::on!($($on)?) {
                        f(&$crate::Key::leaf($akey), shape, $crate::Row::as_flat(&self.$a));
                    }
                )*
                let _ = shapes;
                $({
                    let (count, mut seen) = ($crate::nn::params::composite_layer!(@count $t, $lg $(, $n)?), 0);
                    $crate::StateDict::visit_arrays(&self.$l, &mut |key, shape, values| {
                        if seen < count {
                            f(&$crate::Key::nested($lkey, key), shape, values);
                        }
                        seen += 1;
                    });
                })*
            }

            fn visit_arrays_mut(&mut self, f: &mut $crate::VisitMut<'_, $t>) {
                let shapes = Self::OWN_SHAPES.iter();
                $(
                    let (shape, shapes) = $crate::nn::params::composite_layer!(@next shapes);
                    if $crate::nn::params::on!($($on)?) {
                        f(&$crate::Key::leaf($akey), shape, $crate::Row::as_flat_mut(&mut self.$a));
                    }
                )*
                let _ = shapes;
                $({
                    let (count, mut seen) = ($crate::nn::params::composite_layer!(@count $t, $lg $(, $n)?), 0);
                    $crate::StateDict::visit_arrays_mut(&mut self.$l, &mut |key, shape, values| {
                        if seen < count {
                            f(&$crate::Key::nested($lkey, key), shape, values);
                        }
                        seen += 1;
                    });
                })*
            }

            fn visit_counters(&self, f: &mut $crate::VisitCounter<'_>) {
                $(
                    $crate::StateDict::visit_counters(&self.$l, &mut |key, value| {
                        f(&$crate::Key::nested($lkey, key), value);
                    });
                )*
                let _ = f;
            }

            fn visit_counters_mut(&mut self, f: &mut $crate::VisitCounterMut<'_>) {
                $(
                    $crate::StateDict::visit_counters_mut(&mut self.$l, &mut |key, value| {
                        f(&$crate::Key::nested($lkey, key), value);
                    });
                )*
                let _ = f;
            }
        }

        /// Its state dict: a map from PyTorch's dotted keys to nested
        /// arrays (feature `serde`).
        #[cfg(feature = "serde")]
        impl<$($g)*> serde::Serialize for $layer
        where
            $t: serde::Serialize,
        {
            fn serialize<Ser_: serde::Serializer>(&self, serializer: Ser_) -> Result<Ser_::Ok, Ser_::Error> {
                $crate::serde_layer::serialize_state_dict(serializer, self)
            }
        }

        /// Unknown, duplicate or missing keys and wrong shapes are errors
        /// (feature `serde`).
        #[cfg(feature = "serde")]
        impl<'de, $($g)*> serde::Deserialize<'de> for $layer
        where
            $t: serde::Deserialize<'de>,
        {
            fn deserialize<De_: serde::Deserializer<'de>>(deserializer: De_) -> Result<Self, De_::Error> {
                let mut layer = Self::new();
                $crate::serde_layer::deserialize_state_dict(deserializer, &mut layer)?;
                Ok(layer)
            }
        }
    };
    // How many of a sub-layer's arrays the layer has: all, or the first `n`.
    (@count $t:ty, $lg:ty) => {
        <$lg as $crate::Gradients<$t>>::ARRAYS
    };
    (@count $t:ty, $lg:ty, $n:expr) => {
        $n
    };
    // The next own array's shape, and the rest.
    (@next $shapes:ident) => {{
        let mut rest = $shapes;
        (rest.next().copied().unwrap_or(&[]), rest)
    }};
    // Array `i`: one per own array (empty when disabled), then each
    // sub-layer's `count`.
    (@index $i:ident, $t:ty, $empty:expr;
        [$($on:expr => $own:expr),*];
        [$($lg:ty $(| $n:expr)? => $sub:expr),*]) => {{
        $(
            if $i == 0 {
                return if $on { $own } else { $empty };
            }
            let $i = $i - 1;
        )*
        $(
            let count = $crate::nn::params::composite_layer!(@count $t, $lg $(, $n)?);
            if $i < count {
                return $sub;
            }
            let $i = $i - count;
        )*
        let _ = $i;
        $empty
    }};
}
pub(crate) use composite_layer;
