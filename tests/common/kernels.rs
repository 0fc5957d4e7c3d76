//! The conv and pool kernels by name and generic arguments, for the tables
//! of the tests that run them (tests/conv_golden.rs, tests/pool_golden.rs,
//! tests/conv_pool.rs): [`with_kernel!`](crate::with_kernel) turns a table's
//! `kernel::<arguments>` into the kernel's forward and backward functions
//! and its [`Geometry`].

/// A kernel's geometry as its generic arguments give it.
#[derive(Clone, Debug, PartialEq)]
pub struct Geometry {
    /// The kernel's name in the tables, as PyTorch's functional op
    /// (`conv2d`, `max_pool1d`, `adaptive_avg_pool2d`, ...).
    pub op: &'static str,
    /// Convolutions: input channels, output channels, groups. Pools:
    /// channels, channels, 1.
    pub channels: [usize; 3],
    /// Per spatial axis: input length, output length, kernel, stride, left
    /// padding, dilation (1 for average pools; the whole axis for global
    /// ones).
    pub axes: Vec<[usize; 6]>,
    /// Average pools: whether the divisor counts the padding.
    pub count_include_pad: Option<bool>,
}

/// `with_kernel!(f(leading, arguments), kernel::<generic arguments>)` calls
/// `f(leading, arguments, geometry, forward, backward)` with the kernel's
/// [`Geometry`] and its two functions instantiated with the arguments, given
/// in the kernel's order (see `constnorm::runtime::kernels::{conv, pool}`).
#[macro_export]
macro_rules! with_kernel {
    ($f:ident($($lead:expr),*), conv1d::<$t:ident, $c_in:tt, $c_out:tt, $groups:tt, $per_group:tt,
        $l:tt, $out_l:tt, $k:tt, $s:tt, $p:tt, $d:tt>) => {
        $crate::with_kernel!(@call $f($($lead),*), conv, conv1d_forward, conv1d_backward,
            (conv1d, [$c_in, $c_out, $groups], [[$l, $out_l, $k, $s, $p, $d]], None),
            [$t, $c_in, $c_out, $groups, $per_group, $l, $out_l, $k, $s, $p, $d])
    };
    ($f:ident($($lead:expr),*), conv2d::<$t:ident, $c_in:tt, $c_out:tt, $groups:tt, $per_group:tt,
        $h:tt, $w:tt, $out_h:tt, $out_w:tt, $kh:tt, $kw:tt, $sh:tt, $sw:tt, $pt:tt, $pl:tt, $dh:tt, $dw:tt>) => {
        $crate::with_kernel!(@call $f($($lead),*), conv, conv2d_forward, conv2d_backward,
            (conv2d, [$c_in, $c_out, $groups],
                [[$h, $out_h, $kh, $sh, $pt, $dh], [$w, $out_w, $kw, $sw, $pl, $dw]], None),
            [$t, $c_in, $c_out, $groups, $per_group, $h, $w, $out_h, $out_w, $kh, $kw, $sh, $sw,
                $pt, $pl, $dh, $dw])
    };
    ($f:ident($($lead:expr),*), max_pool1d::<$t:ident, $c:tt, $l:tt, $out_l:tt, $k:tt, $s:tt, $p:tt, $d:tt>) => {
        $crate::with_kernel!(@call $f($($lead),*), pool, max_pool1d_forward, max_pool1d_backward,
            (max_pool1d, [$c, $c, 1], [[$l, $out_l, $k, $s, $p, $d]], None),
            [$t, $c, $l, $out_l, $k, $s, $p, $d])
    };
    ($f:ident($($lead:expr),*), max_pool2d::<$t:ident, $c:tt, $h:tt, $w:tt, $out_h:tt, $out_w:tt,
        $kh:tt, $kw:tt, $sh:tt, $sw:tt, $ph:tt, $pw:tt, $dh:tt, $dw:tt>) => {
        $crate::with_kernel!(@call $f($($lead),*), pool, max_pool2d_forward, max_pool2d_backward,
            (max_pool2d, [$c, $c, 1], [[$h, $out_h, $kh, $sh, $ph, $dh], [$w, $out_w, $kw, $sw, $pw, $dw]], None),
            [$t, $c, $h, $w, $out_h, $out_w, $kh, $kw, $sh, $sw, $ph, $pw, $dh, $dw])
    };
    ($f:ident($($lead:expr),*), avg_pool1d::<$t:ident, $c:tt, $l:tt, $out_l:tt, $k:tt, $s:tt, $p:tt, $incl:tt>) => {
        $crate::with_kernel!(@call $f($($lead),*), pool, avg_pool1d_forward, avg_pool1d_backward,
            (avg_pool1d, [$c, $c, 1], [[$l, $out_l, $k, $s, $p, 1]], Some($incl)),
            [$t, $c, $l, $out_l, $k, $s, $p, $incl])
    };
    ($f:ident($($lead:expr),*), avg_pool2d::<$t:ident, $c:tt, $h:tt, $w:tt, $out_h:tt, $out_w:tt,
        $kh:tt, $kw:tt, $sh:tt, $sw:tt, $ph:tt, $pw:tt, $incl:tt>) => {
        $crate::with_kernel!(@call $f($($lead),*), pool, avg_pool2d_forward, avg_pool2d_backward,
            (avg_pool2d, [$c, $c, 1], [[$h, $out_h, $kh, $sh, $ph, 1], [$w, $out_w, $kw, $sw, $pw, 1]], Some($incl)),
            [$t, $c, $h, $w, $out_h, $out_w, $kh, $kw, $sh, $sw, $ph, $pw, $incl])
    };
    ($f:ident($($lead:expr),*), adaptive_avg_pool1d::<$t:ident, $c:tt, $l:tt>) => {
        $crate::with_kernel!(@call $f($($lead),*), pool, adaptive_avg_pool1d_forward, adaptive_avg_pool1d_backward,
            (adaptive_avg_pool1d, [$c, $c, 1], [[$l, 1, $l, $l, 0, 1]], None), [$t, $c, $l])
    };
    ($f:ident($($lead:expr),*), adaptive_avg_pool2d::<$t:ident, $c:tt, $h:tt, $w:tt>) => {
        $crate::with_kernel!(@call $f($($lead),*), pool, adaptive_avg_pool2d_forward, adaptive_avg_pool2d_backward,
            (adaptive_avg_pool2d, [$c, $c, 1], [[$h, 1, $h, $h, 0, 1], [$w, 1, $w, $w, 0, 1]], None), [$t, $c, $h, $w])
    };
    ($f:ident($($lead:expr),*), adaptive_max_pool1d::<$t:ident, $c:tt, $l:tt>) => {
        $crate::with_kernel!(@call $f($($lead),*), pool, adaptive_max_pool1d_forward, adaptive_max_pool1d_backward,
            (adaptive_max_pool1d, [$c, $c, 1], [[$l, 1, $l, $l, 0, 1]], None), [$t, $c, $l])
    };
    ($f:ident($($lead:expr),*), adaptive_max_pool2d::<$t:ident, $c:tt, $h:tt, $w:tt>) => {
        $crate::with_kernel!(@call $f($($lead),*), pool, adaptive_max_pool2d_forward, adaptive_max_pool2d_backward,
            (adaptive_max_pool2d, [$c, $c, 1], [[$h, 1, $h, $h, 0, 1], [$w, 1, $w, $w, 0, 1]], None), [$t, $c, $h, $w])
    };
    (@call $f:ident($($lead:expr),*), $module:ident, $forward:ident, $backward:ident,
        ($op:ident, [$($channel:tt),+], [$($axis:tt),+], $incl:expr), [$($arg:tt),+]) => {
        $f(
            $($lead,)*
            $crate::common::kernels::Geometry {
                op: stringify!($op),
                channels: [$($channel),+],
                axes: vec![$($axis),+],
                count_include_pad: $incl,
            },
            ::constnorm::runtime::kernels::$module::$forward::<$($arg),+>,
            ::constnorm::runtime::kernels::$module::$backward::<$($arg),+>,
        )
    };
}
