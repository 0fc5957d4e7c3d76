//! `#[network]` against PyTorch: `tests/fixtures/mlp_training_f64.json` is
//! PyTorch training `Linear(4,16) BatchNorm1d(16) ReLU Linear(16,16)
//! LayerNorm(16) ReLU Linear(16,3)` with cross-entropy and SGD (lr 0.1,
//! momentum 0.9) for twelve steps of batch 8 in float64. Built from our
//! pieces with the same initial parameters and batches, the network must
//! reproduce every loss, the final parameters and running statistics, and the
//! eval output, to 1e-9.

mod common;

use constnorm::nn::{Linear, Relu, Sgd, cross_entropy};
use constnorm::{Gradients, Network, NormError, StateDict, network, normalize};
use serde::Deserialize;
use std::collections::BTreeMap;

#[normalize(batch, dims = 16, momentum = 0.1, eps = 1e-5, dtype = f64)]
struct Bn16;

#[normalize(layer, dims = 16, eps = 1e-5, dtype = f64)]
struct Ln16;

/// PyTorch's `nn.Sequential(...)`: keys are positions, `0.weight`, `1.running_mean`.
#[network(sequential)]
#[derive(Clone, Debug, Default, PartialEq)]
struct Mlp {
    fc1: Linear<4, 16, f64>,
    bn1: Bn16,
    act1: Relu<16, f64>,
    fc2: Linear<16, 16, f64>,
    ln2: Ln16,
    act2: Relu<16, f64>,
    out: Linear<16, 3, f64>,
}

#[derive(Deserialize)]
struct Fixture {
    init: BTreeMap<String, Vec<f64>>,
    steps: Vec<Step>,
    #[serde(rename = "final")]
    last: BTreeMap<String, Vec<f64>>,
    eval: Eval,
    param_shapes: BTreeMap<String, Vec<usize>>,
}

#[derive(Deserialize)]
struct Step {
    x: Vec<f64>,
    target: Vec<usize>,
    loss: f64,
}

#[derive(Deserialize)]
struct Eval {
    x: Vec<f64>,
    y: Vec<f64>,
}

fn fixture() -> Fixture {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/mlp_training_f64.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn batch<const N: usize, const B: usize>(values: &[f64]) -> [[f64; N]; B] {
    assert_eq!(values.len(), N * B, "fixture batch of the wrong size");
    let mut out = [[0.0; N]; B];
    for (row, chunk) in out.iter_mut().zip(values.chunks_exact(N)) {
        row.copy_from_slice(chunk);
    }
    out
}

/// Sets every array and counter of `net` from a state dict by key.
fn load(net: &mut Mlp, state: &BTreeMap<String, Vec<f64>>) {
    let mut seen = 0;
    net.visit_arrays_mut(&mut |key, _, values| {
        let v = &state[&key.to_string()];
        values.copy_from_slice(v);
        seen += 1;
    });
    net.visit_counters_mut(&mut |key, value| {
        *value = state[&key.to_string()][0] as u64;
        seen += 1;
    });
    assert_eq!(
        seen,
        state.len(),
        "the network has every key of the state dict"
    );
}

fn close(ours: f64, theirs: f64, tol: f64) -> bool {
    let err = (ours - theirs).abs() / theirs.abs().max(1.0);
    if std::env::var_os("CONSTNORM_REPORT").is_some() {
        WORST.with(|w| w.set(w.get().max(err)));
    }
    err <= tol
}

thread_local! {
    static WORST: std::cell::Cell<f64> = const { std::cell::Cell::new(0.0) };
}

#[test]
fn state_dict_keys_and_shapes_are_pytorchs() {
    let f = fixture();
    let net = Mlp::default();
    let mut ours = BTreeMap::new();
    net.visit_arrays(&mut |key, shape, _| {
        ours.insert(key.to_string(), shape.to_vec());
    });
    net.visit_counters(&mut |key, _| {
        ours.insert(key.to_string(), Vec::new());
    });
    assert_eq!(ours, f.param_shapes);
}

#[test]
fn twelve_sgd_steps_reproduce_pytorch() {
    let f = fixture();
    let mut net = Mlp::default();
    load(&mut net, &f.init);
    let mut ws = <Mlp as Network>::Workspace::<8>::default();
    let mut grads = <Mlp as constnorm::Parameters>::Grads::default();
    let mut sgd = Sgd::new(0.1, 0.9);
    let mut dlogits = [[0.0; 3]; 8];
    for (i, step) in f.steps.iter().enumerate() {
        let x: [[f64; 4]; 8] = batch(&step.x);
        let logits = net.forward_train(&x, &mut ws).unwrap();
        let loss = cross_entropy(logits, &step.target, &mut dlogits).unwrap();
        assert!(
            close(loss, step.loss, 1e-9),
            "step {i}: loss {loss} vs PyTorch {}",
            step.loss
        );
        grads.set_zero();
        net.backward(&x, &mut ws, &dlogits, &mut grads).unwrap();
        sgd.step(&mut net, &grads);
    }
    let mut checked = 0;
    net.visit_arrays(&mut |key, _, values| {
        let theirs = &f.last[&key.to_string()];
        for (j, (a, b)) in values.iter().zip(theirs).enumerate() {
            assert!(close(*a, *b, 1e-9), "{key}[{j}]: {a} vs PyTorch {b}");
        }
        checked += 1;
    });
    net.visit_counters(&mut |key, value| {
        assert_eq!(value as f64, f.last[&key.to_string()][0], "{key}");
        checked += 1;
    });
    assert_eq!(checked, f.last.len());

    let x: [[f64; 4]; 5] = batch(&f.eval.x);
    let mut ws = <Mlp as Network>::Workspace::<5>::default();
    let y = net.forward_eval(&x, &mut ws).unwrap();
    for (j, (a, b)) in y.as_flattened().iter().zip(&f.eval.y).enumerate() {
        assert!(close(*a, *b, 1e-9), "eval output {j}: {a} vs PyTorch {b}");
    }
    if std::env::var_os("CONSTNORM_REPORT").is_some() {
        eprintln!(
            "worst relative difference to PyTorch: {:e}",
            WORST.with(std::cell::Cell::get)
        );
    }
}

#[test]
fn workspace_fields_hold_each_layers_output() {
    let f = fixture();
    let mut net = Mlp::default();
    load(&mut net, &f.init);
    let x: [[f64; 4]; 8] = batch(&f.steps[0].x);
    let mut ws = MlpWorkspace::<8>::new();
    net.forward_eval(&x, &mut ws).unwrap();
    // ReLU after the batch norm: its output is the clamped batch-norm output.
    for (bn, act) in ws.bn1.iter().zip(&ws.act1) {
        for (b, a) in bn.iter().zip(act) {
            assert_eq!(*a, b.max(0.0));
        }
    }
    assert_eq!(ws.out.len(), 8);
}

#[test]
fn backward_before_forward_is_an_error_and_writes_nothing() {
    let net = Mlp::default();
    let mut ws = MlpWorkspace::<4>::new();
    let mut grads = MlpGrads::default();
    grads.fc1.bias[0] = 7.0;
    let err = net
        .backward(&[[1.0; 4]; 4], &mut ws, &[[1.0; 3]; 4], &mut grads)
        .unwrap_err();
    assert_eq!(err, NormError::NoForwardPass);
    assert!(err.to_string().contains("forward pass"));
    assert_eq!(grads.fc1.bias[0], 7.0);
    let untouched = (0..<MlpGrads as Gradients<f64>>::ARRAYS)
        .filter(|&i| i != 1)
        .all(|i| grads.array(i).iter().all(|g| *g == 0.0));
    assert!(untouched, "backward wrote gradients before failing");
}

#[test]
fn parameters_and_gradients_are_numbered_alike() {
    // Linear weight+bias, BN weight+bias, Linear, LN, Linear: 10 arrays.
    assert_eq!(<MlpGrads as Gradients<f64>>::ARRAYS, 10);
    let net = Mlp::default();
    let grads = MlpGrads::default();
    let lens: Vec<usize> = (0..10)
        .map(|i| constnorm::Parameters::parameter(&net, i).len())
        .collect();
    assert_eq!(lens, [64, 16, 16, 16, 256, 16, 16, 16, 48, 3]);
    for (i, len) in lens.iter().enumerate() {
        assert_eq!(grads.array(i).len(), *len, "array {i}");
    }
    assert!(constnorm::Parameters::parameter(&net, 10).is_empty());
    assert_eq!(<Mlp as Network>::MIN_TRAIN_ROWS, 2);
    assert_eq!(<Mlp as Network>::MIN_EVAL_ROWS, 1);
}

/// A network with every activation and both normalization kinds, for the
/// finite-difference check.
#[network]
#[derive(Clone, Default)]
struct Deep {
    fc1: Linear<3, 8, f64>,
    bn1: Bn8,
    act1: constnorm::nn::Tanh<8, f64>,
    fc2: Linear<8, 8, f64>,
    ln2: Ln8,
    act2: constnorm::nn::Gelu<8, f64>,
    fc3: Linear<8, 8, f64>,
    act3: Relu<8, f64>,
    out: Linear<8, 2, f64>,
}

#[normalize(batch, dims = 8, dtype = f64)]
struct Bn8;

#[normalize(layer, dims = 8, dtype = f64)]
struct Ln8;

/// `sum(y * r)` for fixed weights `r`, whose gradient with respect to `y` is `r`.
fn probe<const B: usize>(net: &mut Deep, x: &[[f64; 3]; B], r: &[[f64; 2]; B], train: bool) -> f64 {
    let mut ws = DeepWorkspace::<B>::new();
    let y = if train {
        net.forward_train(x, &mut ws).unwrap()
    } else {
        net.forward_eval(x, &mut ws).unwrap()
    };
    y.as_flattened()
        .iter()
        .zip(r.as_flattened())
        .map(|(y, r)| y * r)
        .sum()
}

/// A derivative by Richardson-extrapolated central differences.
fn derivative(f: impl FnMut(f64) -> f64, h: f64) -> f64 {
    common::fd::richardson(f, h).0
}

#[test]
fn whole_network_gradients_match_finite_differences() {
    use constnorm::Parameters;
    use rand::{RngExt, SeedableRng};
    for (seed, train) in [(1_u64, true), (2, false), (3, true)] {
        let mut net = Deep::default();
        constnorm::nn::init_seeded(&mut net, seed);
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed + 100);
        // Running statistics away from their defaults, so eval mode tests them.
        net.bn1.running_mean = std::array::from_fn(|_| rng.random_range(-0.5..0.5));
        net.bn1.running_var = std::array::from_fn(|_| rng.random_range(0.5..2.0));
        let x: [[f64; 3]; 6] =
            std::array::from_fn(|_| std::array::from_fn(|_| rng.random_range(-2.0..2.0)));
        let r: [[f64; 2]; 6] =
            std::array::from_fn(|_| std::array::from_fn(|_| rng.random_range(-1.0..1.0)));

        let mut ws = DeepWorkspace::<6>::new();
        if train {
            net.clone().forward_train(&x, &mut ws).unwrap();
        } else {
            net.forward_eval(&x, &mut ws).unwrap();
        }
        let mut grads = DeepGrads::default();
        let dx = *net.backward(&x, &mut ws, &r, &mut grads).unwrap();

        let mut worst: f64 = 0.0;
        let mut check = |analytic: f64, numeric: f64, what: &str| {
            let err = (analytic - numeric).abs() / numeric.abs().max(1.0);
            worst = worst.max(err);
            assert!(
                err < 1e-7,
                "seed {seed} train {train} {what}: backward {analytic} vs finite difference {numeric}"
            );
        };
        for i in 0..<DeepGrads as Gradients<f64>>::ARRAYS {
            for j in 0..net.parameter(i).len() {
                let numeric = derivative(
                    &mut |h| {
                        let mut n = net.clone();
                        n.parameter_mut(i)[j] += h;
                        probe(&mut n, &x, &r, train)
                    },
                    1e-4,
                );
                check(grads.array(i)[j], numeric, &format!("parameter {i}[{j}]"));
            }
        }
        for b in 0..6 {
            for k in 0..3 {
                let numeric = derivative(
                    &mut |h| {
                        let mut x = x;
                        x[b][k] += h;
                        probe(&mut net.clone(), &x, &r, train)
                    },
                    1e-4,
                );
                check(dx[b][k], numeric, &format!("x[{b}][{k}]"));
            }
        }
        if std::env::var_os("CONSTNORM_REPORT").is_some() {
            eprintln!("seed {seed} train {train}: worst relative difference {worst:e}");
        }
    }
}

mod state_dict_file {
    //! A whole network from one safetensors state dict with PyTorch's nested
    //! keys. `tests/fixtures/mlp_init_f64.safetensors` holds the fixture's
    //! initial parameters in `safetensors.torch.save_file`'s layout, written
    //! by `make_mlp_safetensors.py` (standard-library Python, not our writer).
    use super::{Bn16, Ln16, Mlp, fixture, load};
    use constnorm::network;
    use constnorm::nn::{Linear, Relu, init_seeded};
    use constnorm::safetensors::{LoadError, LoadOptions, StateDictFile, StateDictWriter};

    fn file() -> Vec<u8> {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/mlp_init_f64.safetensors"
        );
        std::fs::read(path).unwrap()
    }

    #[test]
    fn pytorchs_state_dict_loads_into_the_whole_network() {
        let bytes = file();
        let file = StateDictFile::parse(&bytes).unwrap();
        let mut net = Mlp::default();
        init_seeded(&mut net, 1); // something to overwrite
        file.load("", &mut net, LoadOptions::default()).unwrap();
        let mut expected = Mlp::default();
        load(&mut expected, &fixture().init);
        assert_eq!(net, expected);
    }

    #[test]
    fn a_saved_network_reloads_bit_exactly_under_a_prefix() {
        let mut net = Mlp::default();
        init_seeded(&mut net, 3);
        net.bn1.running_var[2] = 0.375;
        net.bn1.num_batches_tracked = 12;
        let mut writer = StateDictWriter::new();
        writer.add("model.encoder", &net).unwrap();
        let bytes = writer.to_bytes().unwrap();
        let file = StateDictFile::parse(&bytes).unwrap();
        assert!(
            file.keys()
                .contains(&"model.encoder.1.num_batches_tracked".to_string())
        );
        assert!(file.keys().contains(&"model.encoder.6.weight".to_string()));
        let mut back = Mlp::default();
        file.load("model.encoder", &mut back, LoadOptions::default())
            .unwrap();
        assert_eq!(back, net);
    }

    /// The first five layers of `Mlp`, as a smaller model's state dict.
    #[network(sequential)]
    #[derive(Clone, Debug, Default, PartialEq)]
    struct Head {
        fc1: Linear<4, 16, f64>,
        bn1: Bn16,
        act1: Relu<16, f64>,
        fc2: Linear<16, 16, f64>,
        ln2: Ln16,
    }

    #[test]
    fn a_missing_layer_is_an_error_and_nothing_is_half_loaded() {
        let mut head = Head::default();
        init_seeded(&mut head, 9);
        let mut writer = StateDictWriter::new();
        writer.add("", &head).unwrap();
        let bytes = writer.to_bytes().unwrap();
        let file = StateDictFile::parse(&bytes).unwrap();

        let mut net = Mlp::default();
        init_seeded(&mut net, 4);
        let before = net.clone();
        let err = file.load("", &mut net, LoadOptions::default()).unwrap_err();
        assert_eq!(err, LoadError::MissingKey("6.weight".into()));
        assert_eq!(err.to_string(), "missing key `6.weight` in the state dict");
        assert_eq!(
            net, before,
            "the layers before the missing one were not written"
        );

        // The other way round, strict loading refuses the extra layers.
        let mut writer = StateDictWriter::new();
        writer.add("", &net).unwrap();
        let bytes = writer.to_bytes().unwrap();
        let file = StateDictFile::parse(&bytes).unwrap();
        let before = head.clone();
        let err = file
            .load("", &mut head, LoadOptions::default())
            .unwrap_err();
        assert_eq!(err, LoadError::UnexpectedKey("6.bias".into()));
        assert_eq!(head, before);
        let lenient = LoadOptions {
            strict: false,
            ..LoadOptions::default()
        };
        file.load("", &mut head, lenient).unwrap();
        assert_eq!(head.fc2, net.fc2);
    }
}
