use constnorm::nn::Linear;
use constnorm::network;

#[network(sequentail, crate = 5)]
struct A {
    fc1: Linear<4, 16>,
}

#[network]
struct Tuple(Linear<4, 16>);

#[network]
struct Empty {}

#[network]
struct Generic<T> {
    fc1: Linear<4, 16>,
    marker: T,
}

#[network]
enum NotAStruct {
    A,
}

#[network]
struct Gated {
    #[cfg(test)]
    fc1: Linear<4, 16>,
}

fn main() {}
