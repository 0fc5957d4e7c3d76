use constnorm::nn::{Linear, Relu};
use constnorm::{network, normalize};

#[normalize(batch, dims = 16)]
struct Bn16;

#[network]
struct Mlp {
    fc1: Linear<4, 16>,
    bn1: Bn16,
    act1: Relu<16>,
    fc2: Linear<8, 3>,
}

fn main() {}
