use constnorm::nn::{Linear, Relu};
use constnorm::network;

/// The shortcut and the chain must end in one shape.
#[network(residual)]
#[derive(Default)]
struct Projected {
    fc: Linear<4, 8>,
    act: Relu<8>,
    #[shortcut]
    skip: Linear<4, 6>,
}

fn main() {}
