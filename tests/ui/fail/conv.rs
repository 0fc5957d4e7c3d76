//! Misconfigured convolutions and pools: each a spanned error, all at once.
use constnorm::{avg_pool2d, conv1d, conv2d, max_pool2d};

type StrideZero = conv2d!(1, 4, 3, stride = 0, input = [1, 8, 8]);
type KernelTooLarge = conv2d!(1, 4, 5, input = [1, 3, 3]);
type GroupsDoNotDivide = conv2d!(4, 6, 3, groups = 4, input = [4, 8, 8]);
type WrongChannels = conv2d!(3, 4, 3, input = [1, 8, 8]);
type SameWithStride = conv1d!(2, 2, 3, stride = 2, padding = same, input = [2, 16]);
type PoolPaddingTooLarge = max_pool2d!(2, padding = 2, input = [1, 8, 8]);
type NoInput = conv2d!(1, 4, 3);
type InputWithoutChannels = max_pool2d!(2, input = [8, 8]);
type DilatedAvgPool = avg_pool2d!(2, dilation = 2, input = [1, 8, 8]);
type TooFewPositional = conv2d!(1, 4, input = [1, 8, 8]);
type Misspelled = conv2d!(1, 4, 3, paddng = 1, input = [1, 8, 8]);

// A size given as a constant is checked by the compiler instead.
const BIG: usize = 5;
type KernelTooLargeConstant = conv2d!(1, 4, BIG, input = [1, 3, 3]);

fn main() {
    let _ = KernelTooLargeConstant::new();
}
