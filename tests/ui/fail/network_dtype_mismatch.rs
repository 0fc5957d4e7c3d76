use constnorm::nn::{Linear, Tanh};
use constnorm::network;

#[network]
struct Mixed {
    fc1: Linear<4, 16, f64>,
    act1: Tanh<16, f32>,
}

fn main() {}
