//! `#[network]` forms: one layer, `sequential` keys, a re-exported crate
//! path, and a chain of every layer kind.
use constnorm::nn::{Gelu, Linear, Relu, Tanh};
use constnorm::{network, normalize, Network, StateDict};

mod reexport {
    pub use constnorm as norm;
}

#[normalize(rms, dims = 8)]
struct Rms8;

#[normalize(group, dims = 8, groups = 2)]
struct Group8;

#[network]
#[derive(Default)]
struct One {
    only: Linear<3, 2>,
}

#[network(sequential, crate = reexport::norm)]
#[derive(Default)]
pub struct Every {
    fc: Linear<3, 8>,
    rms: Rms8,
    gelu: Gelu<8>,
    group: Group8,
    tanh: Tanh<8>,
    relu: Relu<8>,
    out: Linear<8, 1>,
}

fn main() {
    let mut one = One::default();
    let mut ws = OneWorkspace::<1>::new();
    let y: &[[f32; 2]; 1] = one.forward_train(&[[1.0, 2.0, 3.0]], &mut ws).unwrap();
    assert_eq!(y[0], [0.0, 0.0]);

    let every = Every::default();
    let mut keys = Vec::new();
    every.visit_arrays(&mut |key, _, _| keys.push(key.to_string()));
    assert_eq!(keys[0], "0.weight");
    assert_eq!(keys.last().unwrap(), "6.bias");
    let mut ws = EveryWorkspace::<2>::default();
    let _: &[[f32; 1]; 2] = every.forward_eval(&[[0.5; 3]; 2], &mut ws).unwrap();
}
