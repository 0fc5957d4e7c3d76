//! Folding inference-mode batch norm into `y = scale * x + shift`: applied to
//! the eval step of PyTorch reference cases, with the layer holding
//! PyTorch's running statistics from before that step, it gives PyTorch's
//! eval output.

mod common;

use common::golden;
use constnorm::{Row, normalize};

/// Checks `fold()` on the eval step of `case`, to `tol` relative.
macro_rules! fold_case {
    ($name:ident, $case:literal, [$($attr:tt)*], $tol:expr) => {
        #[test]
        fn $name() {
            #[normalize($($attr)*)]
            struct Bn;
            let case = golden::case("batch_norm", $case);
            let init = case.init.as_ref().unwrap();
            let (eval_at, eval) = case.steps.iter().enumerate().find(|(_, s)| s.mode == "eval").unwrap();
            let before = &case.steps[eval_at - 1];
            let mut layer = Bn::new();
            layer.weight = golden::array(init.weight.as_deref().unwrap());
            layer.bias = golden::array(init.bias.as_deref().unwrap());
            layer.running_mean = golden::array(before.running_mean_after.as_deref().unwrap());
            layer.running_var = golden::array(before.running_var_after.as_deref().unwrap());
            let folded = layer.fold();
            let mut rows = golden::rows::<<Bn as constnorm::Normalization>::Row>(&eval.x);
            for row in &mut rows {
                folded.apply(row);
            }
            let got: Vec<f64> = rows.iter().flat_map(|r| r.as_flat().iter().map(|v| f64::from(*v))).collect();
            let scale = eval.y.iter().fold(1.0_f64, |m, v| m.max(v.abs()));
            for (i, (g, e)) in got.iter().zip(&eval.y).enumerate() {
                assert!((g - e).abs() <= $tol * scale, "{}[{i}]: {g} vs {e}", $case);
            }
        }
    };
}

fold_case!(
    batch_norm_1d,
    "batch_f64_32x16_normal_m0.1",
    [batch, dims = 16, dtype = f64],
    1e-12
);
fold_case!(
    batch_norm_2d,
    "batch_f64_2x3x4x4_normal_m0.1",
    [batch, dims = 3, spatial = [4, 4], dtype = f64],
    1e-12
);
fold_case!(
    batch_norm_cumulative,
    "batch_f64_8x16_normal_mNone",
    [batch, dims = 16, momentum = none, dtype = f64],
    1e-12
);
// f32: one more rounding than the layer's own pass (scale and shift are f32).
fold_case!(
    batch_norm_f32,
    "batch_f32_32x16_normal_m0.1",
    [batch, dims = 16],
    1e-6
);

#[test]
fn fold_without_affine_parameters() {
    #[normalize(batch, dims = 2, affine = false, dtype = f64)]
    struct Bn;
    let mut layer = Bn::new();
    layer.running_mean = [1.0, -2.0];
    layer.running_var = [4.0, 0.25];
    let folded = layer.fold();
    // y = (x - mean) / sqrt(var + eps), computed here directly.
    for c in 0..2 {
        let inv = 1.0 / (layer.running_var[c] + Bn::EPS).sqrt();
        assert!((folded.scale[c] - inv).abs() < 1e-15);
        assert!((folded.shift[c] + layer.running_mean[c] * inv).abs() < 1e-15);
    }
}

mod linear {
    //! Folding an inference-mode batch norm into the `Linear` before it
    //! (PyTorch's `fuse_linear_bn_eval`): one layer, the same outputs to 1e-6
    //! in f32, alone and inside a network.
    use constnorm::nn::{Linear, Relu, init_seeded};
    use constnorm::{Layer, Network, network, normalize};
    use rand::rngs::StdRng;
    use rand::{RngExt, SeedableRng};

    #[normalize(batch, dims = 8)]
    struct Bn8;

    fn trained_bn(rng: &mut StdRng) -> Bn8 {
        let mut bn = Bn8::new();
        bn.weight = std::array::from_fn(|_| rng.random_range(-2.0..2.0));
        bn.bias = std::array::from_fn(|_| rng.random_range(-1.0..1.0));
        bn.running_mean = std::array::from_fn(|_| rng.random_range(-1.0..1.0));
        bn.running_var = std::array::from_fn(|_| rng.random_range(0.05..4.0));
        bn
    }

    fn assert_within(a: &[f32], b: &[f32], tol: f32) {
        for (i, (a, b)) in a.iter().zip(b).enumerate() {
            assert!(
                (a - b).abs() <= tol * b.abs().max(1.0),
                "value {i}: {a} vs {b}"
            );
        }
    }

    #[test]
    fn fused_linear_equals_linear_then_batch_norm() {
        for seed in 0..20 {
            let mut rng = StdRng::seed_from_u64(seed);
            let mut fc = Linear::<16, 8>::new();
            init_seeded(&mut fc, seed);
            let bn = trained_bn(&mut rng);
            let x: [[f32; 16]; 32] =
                std::array::from_fn(|_| std::array::from_fn(|_| rng.random_range(-3.0..3.0)));
            let (z, _) = fc.forward_eval_array(&x);
            let (two, _) = bn.forward_eval_array(&z);
            let (one, _) = fc.fuse_batch_norm(&bn.fold()).forward_eval_array(&x);
            assert_within(one.as_flattened(), two.as_flattened(), 1e-6);
        }
    }

    #[network]
    #[derive(Default)]
    struct WithBn {
        fc1: Linear<4, 8>,
        bn1: Bn8,
        act1: Relu<8>,
        out: Linear<8, 2>,
    }

    #[network]
    #[derive(Default)]
    struct Fused {
        fc1: Linear<4, 8>,
        act1: Relu<8>,
        out: Linear<8, 2>,
    }

    #[test]
    fn a_network_with_its_batch_norm_fused_gives_the_same_outputs() {
        let mut rng = StdRng::seed_from_u64(5);
        let mut net = WithBn::default();
        init_seeded(&mut net, 5);
        net.bn1 = trained_bn(&mut rng);
        let fused = Fused {
            fc1: net.fc1.fuse_batch_norm(&net.bn1.fold()),
            act1: net.act1,
            out: net.out.clone(),
        };
        let x: [[f32; 4]; 16] =
            std::array::from_fn(|_| std::array::from_fn(|_| rng.random_range(-2.0..2.0)));
        let a = *net.forward_eval(&x, &mut WithBnWorkspace::new()).unwrap();
        let b = *fused.forward_eval(&x, &mut FusedWorkspace::new()).unwrap();
        assert_within(b.as_flattened(), a.as_flattened(), 1e-6);
    }
}

mod conv {
    //! Folding an inference-mode batch norm into the convolution before it
    //! (PyTorch's `fuse_conv_bn_eval`): the same outputs to 1e-6 in f32.
    use constnorm::nn::init_seeded;
    use constnorm::{Layer, conv1d, conv2d, normalize};
    use rand::rngs::StdRng;
    use rand::{RngExt, SeedableRng};

    #[normalize(batch, dims = 6, spatial = [5, 5])]
    struct Bn2d;

    #[normalize(batch, dims = 6, spatial = 9)]
    struct Bn1d;

    type Conv = conv2d!(
        4,
        6,
        3,
        stride = 2,
        padding = 1,
        groups = 2,
        input = [4, 9, 9]
    );
    type ConvNoBias = conv1d!(
        3,
        6,
        3,
        dilation = 2,
        padding = same,
        bias = false,
        input = [3, 9]
    );

    /// Random affine parameters and running statistics.
    fn randomize(
        rng: &mut StdRng,
        w: &mut [f32; 6],
        b: &mut [f32; 6],
        m: &mut [f32; 6],
        v: &mut [f32; 6],
    ) {
        for c in 0..6 {
            w[c] = rng.random_range(-2.0..2.0);
            b[c] = rng.random_range(-1.0..1.0);
            m[c] = rng.random_range(-1.0..1.0);
            v[c] = rng.random_range(0.05..4.0);
        }
    }

    fn assert_within(a: &[f32], b: &[f32]) {
        let scale = b.iter().fold(1.0_f32, |m, v| m.max(v.abs()));
        for (i, (a, b)) in a.iter().zip(b).enumerate() {
            assert!((a - b).abs() <= 1e-6 * scale, "value {i}: {a} vs {b}");
        }
    }

    #[test]
    fn fused_conv2d_equals_conv_then_batch_norm() {
        for seed in 0..20 {
            let mut rng = StdRng::seed_from_u64(seed);
            let mut conv = Conv::new();
            init_seeded(&mut conv, seed);
            let mut bn = Bn2d::new();
            randomize(
                &mut rng,
                &mut bn.weight,
                &mut bn.bias,
                &mut bn.running_mean,
                &mut bn.running_var,
            );
            let x: [[[[f32; 9]; 9]; 4]; 3] = std::array::from_fn(|_| {
                std::array::from_fn(|_| {
                    std::array::from_fn(|_| std::array::from_fn(|_| rng.random_range(-3.0..3.0)))
                })
            });
            let (z, _) = conv.forward_eval_array(&x);
            let (two, _) = bn.forward_eval_array(&z);
            let (one, _) = conv.fuse_batch_norm(&bn.fold()).forward_eval_array(&x);
            let flat = |y: &[[[[f32; 5]; 5]; 6]; 3]| {
                y.as_flattened().as_flattened().as_flattened().to_vec()
            };
            assert_within(&flat(&one), &flat(&two));
        }
    }

    #[test]
    fn a_convolution_without_bias_gets_one() {
        for seed in 0..20 {
            let mut rng = StdRng::seed_from_u64(seed);
            let mut conv = ConvNoBias::new();
            init_seeded(&mut conv, seed);
            let mut bn = Bn1d::new();
            randomize(
                &mut rng,
                &mut bn.weight,
                &mut bn.bias,
                &mut bn.running_mean,
                &mut bn.running_var,
            );
            let x: [[[f32; 9]; 3]; 4] = std::array::from_fn(|_| {
                std::array::from_fn(|_| std::array::from_fn(|_| rng.random_range(-3.0..3.0)))
            });
            let (z, _) = conv.forward_eval_array(&x);
            let (two, _) = bn.forward_eval_array(&z);
            let (one, _) = conv.fuse_batch_norm(&bn.fold()).forward_eval_array(&x);
            assert_within(
                one.as_flattened().as_flattened(),
                two.as_flattened().as_flattened(),
            );
        }
    }
}
