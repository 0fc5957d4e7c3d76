//! Sizes handed to a window macro through `macro_rules!` fragments
//! (`$n:literal`, `$n:expr`), which reach it in invisible groups.
use constnorm::{Layer, conv1d, max_pool2d};

macro_rules! conv_of {
    ($name:ident, $in:literal, $out:literal, $k:literal, $stride:expr, $len:literal) => {
        type $name = conv1d!($in, $out, $k, stride = $stride, padding = 1, input = [$in, $len]);
    };
}

macro_rules! pool_of {
    ($name:ident, $k:expr, $c:literal, $side:expr) => {
        type $name = max_pool2d!($k, input = [$c, $side, $side]);
    };
}

conv_of!(Conv, 4, 6, 3, 2, 9);
pool_of!(Pool, 2, 3, 2 * 4);

fn output<L: Layer>() -> &'static [usize] {
    <L::Output as constnorm::Row>::SHAPE
}

fn main() {
    assert_eq!(output::<Conv>(), [6, 5]);
    assert_eq!(output::<Pool>(), [3, 4, 4]);
}
