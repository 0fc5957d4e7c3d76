//! PyTorch's default padding spelled out: `padding = 0`, one zero per axis,
//! and `valid`, on every window macro.
use constnorm::{Layer, avg_pool1d, avg_pool2d, conv1d, conv2d, max_pool1d, max_pool2d};

type Conv1Zero = conv1d!(5, 3, 1, padding = 0, input = [5, 1]);
type Conv1Axes = conv1d!(2, 3, 3, padding = [0], input = [2, 8]);
type Conv1Valid = conv1d!(2, 3, 3, padding = valid, input = [2, 8]);
type Conv2Zero = conv2d!(2, 3, 3, padding = 0, input = [2, 8, 8]);
type Conv2Axes = conv2d!(2, 3, 3, padding = [0, 0], input = [2, 8, 8]);
type Conv2Valid = conv2d!(2, 3, 3, padding = valid, input = [2, 8, 8]);
type Max1Zero = max_pool1d!(2, stride = 3, padding = 0, input = [2, 8]);
type Max1Axes = max_pool1d!(2, padding = [0], input = [2, 8]);
type Max1Valid = max_pool1d!(2, padding = valid, input = [2, 8]);
type Max2Zero = max_pool2d!(2, padding = 0, input = [2, 8, 8]);
type Max2Axes = max_pool2d!(2, padding = [0, 0], input = [2, 8, 8]);
type Max2Valid = max_pool2d!(2, padding = valid, input = [2, 8, 8]);
type Avg1Zero = avg_pool1d!(2, padding = 0, input = [2, 8]);
type Avg1Axes = avg_pool1d!(2, padding = [0], input = [2, 8]);
type Avg1Valid = avg_pool1d!(2, padding = valid, input = [2, 8]);
type Avg2Zero = avg_pool2d!(2, padding = 0, input = [2, 8, 8]);
type Avg2Axes = avg_pool2d!(2, padding = [0, 0], input = [2, 8, 8]);
type Avg2Valid = avg_pool2d!(2, padding = valid, input = [2, 8, 8]);

fn output<L: Layer>() -> &'static [usize] {
    <L::Output as constnorm::Row>::SHAPE
}

fn main() {
    // Each is the layer without padding: the output PyTorch gives.
    assert_eq!(output::<Conv1Zero>(), [3, 1]);
    for shape in [output::<Conv1Axes>(), output::<Conv1Valid>()] {
        assert_eq!(shape, [3, 6]);
    }
    for shape in [output::<Conv2Zero>(), output::<Conv2Axes>(), output::<Conv2Valid>()] {
        assert_eq!(shape, [3, 6, 6]);
    }
    assert_eq!(output::<Max1Zero>(), [2, 3]);
    for shape in [output::<Max1Axes>(), output::<Max1Valid>(), output::<Avg1Zero>(), output::<Avg1Axes>(), output::<Avg1Valid>()] {
        assert_eq!(shape, [2, 4]);
    }
    for shape in [
        output::<Max2Zero>(),
        output::<Max2Axes>(),
        output::<Max2Valid>(),
        output::<Avg2Zero>(),
        output::<Avg2Axes>(),
        output::<Avg2Valid>(),
    ] {
        assert_eq!(shape, [2, 4, 4]);
    }
}
