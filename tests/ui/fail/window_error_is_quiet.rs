//! A window macro's error is the only error: the layer's uses stay quiet.
use constnorm::conv2d;

type StrideZero = conv2d!(1, 4, 3, stride = 0, input = [1, 8, 8]);
type TwoErrors = conv2d!(3, 4, 3, stride = 0, input = [1, 8, 8]);

fn main() {
    let conv = StrideZero::new();
    let _ = conv.forward_eval_array(&[[[[0.0_f32; 8]; 8]; 1]]);
    let _ = TwoErrors::default();
}
