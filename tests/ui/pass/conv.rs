//! Convolutions and pools read like PyTorch's lines; every output size is
//! computed at compile time, and sizes may be constants.
use constnorm::nn::Flatten;
use constnorm::{Layer, avg_pool1d, conv1d, conv2d, max_pool1d, max_pool2d};

const C: usize = 4;
const SIDE: usize = 9;

type Basic = conv2d!(1, 8, 3, input = [1, 8, 8]);
type Padded = conv2d!(1, 8, 3, padding = 1, input = [1, 8, 8]);
type Strided = conv2d!(4, 4, [3, 2], stride = [2, 1], dilation = 2, groups = 2, input = [4, 9, 9]);
type Depthwise = conv2d!(C, 2 * C, 3, groups = C, padding = same, input = [C, SIDE, SIDE]);
type NoBias = conv1d!(3, 5, 4, padding = same, bias = false, input = [3, 10]);
type Pool = max_pool2d!(2, input = [8, 8, 8]);
type CeilPool = max_pool1d!(3, stride = 2, padding = 1, ceil_mode = true, input = [2, 10]);
type Avg = avg_pool1d!(3, stride = 2, padding = 1, count_include_pad = false, input = [2, 10]);

fn output<L: Layer>() -> &'static [usize] {
    <L::Output as constnorm::Row>::SHAPE
}

fn main() {
    assert_eq!(output::<Basic>(), [8, 6, 6]);
    assert_eq!(output::<Padded>(), [8, 8, 8]);
    assert_eq!(output::<Strided>(), [4, 3, 7]);
    assert_eq!(output::<Depthwise>(), [8, 9, 9]);
    assert_eq!(output::<NoBias>(), [5, 10]);
    assert_eq!(output::<Pool>(), [8, 4, 4]);
    assert_eq!(output::<CeilPool>(), [2, 6]);
    assert_eq!(output::<Avg>(), [2, 5]);
    let _: Flatten<[[[f32; 4]; 4]; 8], 128> = Flatten::default();
}
