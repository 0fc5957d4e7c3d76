//! A convolutional network against PyTorch: `tests/fixtures/cnn_training_f64.json`
//! is PyTorch training `Conv2d(1,4,3,padding=1) BatchNorm2d(4) ReLU
//! MaxPool2d(2) Conv2d(4,8,3,padding=1) GroupNorm(2,8) ReLU
//! AdaptiveAvgPool2d(1) Flatten Linear(8,10)` on 8x8 digits for ten SGD
//! steps (lr 0.1, momentum 0.9) in float64. Loaded from PyTorch's own
//! safetensors file, our network must reproduce every loss, the final state
//! dict (running statistics and `num_batches_tracked` included) and the
//! eval logits, to 1e-9 relative to each tensor's scale.

mod common;

use common::fixture::{Tensor, assert_close};
use constnorm::nn::{AdaptiveAvgPool2d, Flatten, Linear, Relu2d, Sgd, cross_entropy};
use constnorm::safetensors::{LoadOptions, StateDictFile};
use constnorm::{
    Gradients, Network, Parameters, StateDict, conv2d, max_pool2d, network, normalize,
};

type Conv0 = conv2d!(1, 4, 3, padding = 1, input = [1, 8, 8], dtype = f64);
#[normalize(batch, dims = 4, spatial = [8, 8], dtype = f64)]
struct Bn1;
type Pool3 = max_pool2d!(2, input = [4, 8, 8], dtype = f64);
type Conv4 = conv2d!(4, 8, 3, padding = 1, input = [4, 4, 4], dtype = f64);
#[normalize(group, dims = 8, groups = 2, spatial = [4, 4], dtype = f64)]
struct Gn5;

/// PyTorch's `nn.Sequential`, so the keys are `0.weight` ... `9.bias`.
#[network(sequential)]
#[derive(Default)]
struct Cnn {
    conv0: Conv0,
    bn1: Bn1,
    relu2: Relu2d<4, 8, 8, f64>,
    pool3: Pool3,
    conv4: Conv4,
    gn5: Gn5,
    relu6: Relu2d<8, 4, 4, f64>,
    gap7: AdaptiveAvgPool2d<8, 4, 4, f64>,
    flat8: Flatten<[[[f64; 1]; 1]; 8], 8>,
    fc9: Linear<8, 10, f64>,
}

/// The network with PyTorch's initial state, from PyTorch's own file.
fn initial() -> Box<Cnn> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/cnn_init_f64.safetensors"
    );
    let bytes = std::fs::read(path).unwrap();
    let mut net = Box::<Cnn>::default();
    StateDictFile::parse(&bytes)
        .unwrap()
        .load("", &mut *net, LoadOptions::default())
        .unwrap();
    net
}

fn images<const B: usize>(t: &Tensor) -> [[[[f64; 8]; 8]; 1]; B] {
    assert_eq!(t.shape, [B, 1, 8, 8]);
    let mut out = [[[[0.0; 8]; 8]; 1]; B];
    out.as_flattened_mut()
        .as_flattened_mut()
        .as_flattened_mut()
        .copy_from_slice(&t.values);
    out
}

#[test]
fn ten_sgd_steps_reproduce_pytorch() {
    let f = common::fixture::load("cnn_training_f64.json");
    let mut net = initial();
    let mut ws = Box::<<Cnn as Network>::Workspace<8>>::default();
    let mut grads = Box::<<Cnn as Parameters>::Grads>::default();
    let mut sgd = Sgd::new(0.1, 0.9);
    let mut dlogits = [[0.0; 10]; 8];
    let mut worst = 0.0_f64;
    for (i, step) in f.steps.iter().enumerate() {
        let x = images::<8>(&step.x);
        let logits = net.forward_train(&x, &mut ws).unwrap();
        assert_close(
            &format!("step {i} logits"),
            logits.as_flattened(),
            &step.logits.values,
            &mut worst,
        );
        let loss = cross_entropy(logits, &step.target, &mut dlogits).unwrap();
        assert_close(&format!("step {i} loss"), &[loss], &[step.loss], &mut worst);
        grads.set_zero();
        net.backward(&x, &mut ws, &dlogits, &mut grads).unwrap();
        sgd.step(&mut *net, &grads);
    }
    let mut checked = 0;
    net.visit_arrays(&mut |key, shape, values| {
        let theirs = &f.last[&key.to_string()];
        assert_eq!(shape, theirs.shape.as_slice(), "{key}: shape");
        assert_close(&key.to_string(), values, &theirs.values, &mut worst);
        checked += 1;
    });
    net.visit_counters(&mut |key, value| {
        assert_eq!(value as f64, f.last[&key.to_string()].values[0], "{key}");
        checked += 1;
    });
    assert_eq!(
        checked,
        f.last.len(),
        "every tensor of PyTorch's final state dict"
    );

    let x = images::<16>(&f.eval.x);
    let mut ws = Box::<<Cnn as Network>::Workspace<16>>::default();
    let logits = net.forward_eval(&x, &mut ws).unwrap();
    assert_close(
        "eval logits",
        logits.as_flattened(),
        &f.eval.logits.values,
        &mut worst,
    );
    eprintln!("worst relative difference to PyTorch: {worst:e}");
}
