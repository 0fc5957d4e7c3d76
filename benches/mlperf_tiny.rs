//! The four MLPerf Tiny v1.x reference models in `f32` (issue 19,
//! convolution speed): the AD autoencoder, the KWS DS-CNN, the IC ResNet-8
//! and the VWW MobileNetV1 x0.25 of `benches/mlperf_tiny/models.rs`, loaded
//! from PyTorch's state dicts, which `benches/mlperf_tiny.py` writes with
//! an input batch and PyTorch's eval outputs for it.
//!
//! Before timing, each model's eval outputs on the stored batch of 32 must
//! match PyTorch's within 1e-4 of their scale (max |ours - PyTorch's| / max
//! |PyTorch's|), or the bench panics. Then, one thread:
//!
//! - each model: inference (`forward_eval`) at batch 1 and 32, and one SGD
//!   step (momentum 0.9, lr 0.01) at batch 32 in training mode:
//!   `forward_train`, cross-entropy (MSE to the input for AD), `backward`,
//!   `Sgd::step`; throughput in examples;
//! - every distinct convolution alone (named by its first field in the
//!   model, as `mlperf_tiny.py` names it): inference at batch 1 and
//!   forward+backward at batch 32; throughput in multiply-adds, so
//!   criterion's `Gelem/s` is GMAC/s (forward+backward counts three
//!   forward passes: output, input and weight gradients).
//!
//! `cargo bench --bench mlperf_tiny` (filter: `-- kws`, `-- convs`);
//! `benches/mlperf_tiny.py` times the same workloads in PyTorch and ONNX
//! Runtime.

#[path = "mlperf_tiny/models.rs"]
mod models;

use constnorm::nn::{Sgd, cross_entropy, init_seeded, mse};
use constnorm::safetensors::{LoadOptions, StateDictFile};
use constnorm::{Gradients, Layer, Network, Row, StateDict};
use criterion::measurement::WallTime;
use criterion::{
    BenchmarkGroup, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main,
};
use models::{ad, ic, kws, vww};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use std::hint::black_box;
use std::time::Duration;

const BATCH: usize = 32;

/// What the bench needs of a model beside [`Network`].
trait Model: Network<Scalar = f32> + StateDict + Default {
    /// The stem of its files in `benches/data/mlperf_tiny/`.
    const NAME: &'static str;
    /// The number of classes of a classifier; 0 for the autoencoder.
    const CLASSES: usize;

    /// A workspace for batches of `B`, built on the heap.
    fn workspace<const B: usize>() -> Box<Self::Workspace<B>>;

    /// The training loss of outputs `y` for inputs `x` and class `targets`,
    /// with its gradient written into `dy`.
    fn loss<const B: usize>(
        y: &[Self::Output; B],
        x: &[Self::Input; B],
        targets: &[usize; B],
        dy: &mut [Self::Output; B],
    ) -> f32;
}

impl Model for ad::Autoencoder {
    const NAME: &'static str = "ad";
    const CLASSES: usize = 0;

    fn workspace<const B: usize>() -> Box<Self::Workspace<B>> {
        ad::AutoencoderWorkspace::<B>::new_boxed()
    }

    fn loss<const B: usize>(
        y: &[Self::Output; B],
        x: &[Self::Input; B],
        _: &[usize; B],
        dy: &mut [Self::Output; B],
    ) -> f32 {
        mse(y, x, dy).unwrap()
    }
}

/// [`Model`] for a classifier: cross-entropy on its logits.
macro_rules! classifier {
    ($module:ident::$model:ident, $workspace:ident, $name:literal, $classes:literal) => {
        impl Model for $module::$model {
            const NAME: &'static str = $name;
            const CLASSES: usize = $classes;

            fn workspace<const B: usize>() -> Box<Self::Workspace<B>> {
                $module::$workspace::<B>::new_boxed()
            }

            fn loss<const B: usize>(
                y: &[Self::Output; B],
                _: &[Self::Input; B],
                targets: &[usize; B],
                dy: &mut [Self::Output; B],
            ) -> f32 {
                cross_entropy(y, targets, dy).unwrap()
            }
        }
    };
}

classifier!(kws::DsCnn, DsCnnWorkspace, "kws", 12);
classifier!(ic::ResNet8, ResNet8Workspace, "ic", 10);
classifier!(vww::MobileNet, MobileNetWorkspace, "vww", 2);

fn read_data(file: &str) -> Vec<u8> {
    let path = format!(
        "{}/benches/data/mlperf_tiny/{file}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| {
        panic!("{path}: {e} (python benches/mlperf_tiny.py --data-only writes it)")
    })
}

/// The model with PyTorch's state dict.
fn load<M: Model>() -> Box<M> {
    let bytes = read_data(&format!("{}.safetensors", M::NAME));
    let mut net = Box::<M>::default();
    StateDictFile::parse(&bytes)
        .and_then(|file| file.load("", &mut *net, LoadOptions::default()))
        .unwrap_or_else(|e| panic!("{}.safetensors: {e}", M::NAME));
    net
}

/// The stored input batch `x` and PyTorch's eval outputs `y` for it, flat.
fn io<M: Model>() -> (Vec<f32>, Vec<f32>) {
    let bytes = read_data(&format!("{}_io.safetensors", M::NAME));
    let file = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let flat = |name: &str, shape: &[usize]| {
        let t = file.tensor(name).unwrap();
        assert_eq!(t.dtype(), safetensors::Dtype::F32, "{}: {name}", M::NAME);
        let mut expected = vec![BATCH];
        expected.extend(shape);
        assert_eq!(t.shape(), expected, "{}: shape of {name}", M::NAME);
        t.data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
            .collect()
    };
    (
        flat("x", <M::Input as Row>::SHAPE),
        flat("y", <M::Output as Row>::SHAPE),
    )
}

/// `B` rows of zeros, on the heap.
fn zeros<R: Row, const B: usize>() -> Box<[R; B]> {
    vec![R::ZERO; B].into_boxed_slice().try_into().unwrap()
}

/// `B` rows from the first `B * R::LEN` of `values`, on the heap.
fn rows<R: Row<Scalar = f32>, const B: usize>(values: &[f32]) -> Box<[R; B]> {
    let mut rows = zeros::<R, B>();
    for (row, v) in rows.iter_mut().zip(values.chunks_exact(R::LEN)) {
        row.as_flat_mut().copy_from_slice(v);
    }
    rows
}

/// `n` rows of values uniform in [-1, 1).
fn random_rows<R: Row<Scalar = f32>>(rng: &mut StdRng, n: usize) -> Vec<R> {
    let mut rows = vec![R::ZERO; n];
    for v in rows.iter_mut().flat_map(Row::as_flat_mut) {
        *v = rng.random_range(-1.0..1.0);
    }
    rows
}

/// Panics unless our eval outputs on the stored batch are PyTorch's within
/// 1e-4 of their scale.
fn check<M: Model>(net: &M, x: &[M::Input; BATCH], expected: &[f32]) {
    let mut ws = M::workspace::<BATCH>();
    let y = net.forward_eval(x, &mut ws).unwrap();
    let ours = y.iter().flat_map(Row::as_flat);
    let diff = ours
        .zip(expected)
        .fold(0.0_f32, |m, (a, b)| m.max((a - b).abs()));
    let scale = expected.iter().fold(0.0_f32, |m, v| m.max(v.abs()));
    let rel = diff / scale;
    assert!(
        rel <= 1e-4,
        "{}: eval outputs differ from PyTorch's by {rel:e} of their scale (max |diff| {diff:e}, \
         max |y| {scale:e}), more than 1e-4: the model or its state dict is not PyTorch's",
        M::NAME
    );
    eprintln!(
        "{}: eval outputs match PyTorch's ({rel:.1e} of their scale)",
        M::NAME
    );
}

/// A model's inference at batch 1 and 32 and its SGD step at batch 32.
fn model<M: Model>(c: &mut Criterion) {
    let (x, y) = io::<M>();
    let x32 = rows::<M::Input, BATCH>(&x);
    let x1 = rows::<M::Input, 1>(&x);
    let net = load::<M>();
    check(&*net, &x32, &y);

    let mut g = c.benchmark_group(format!("mlperf_tiny/{}", M::NAME));
    g.throughput(Throughput::Elements(1));
    let mut ws1 = M::workspace::<1>();
    g.bench_function(BenchmarkId::new("eval", 1), |b| {
        b.iter(|| net.forward_eval(black_box(&x1), &mut ws1).unwrap()[0].as_flat()[0]);
    });
    g.throughput(Throughput::Elements(BATCH as u64));
    let mut ws = M::workspace::<BATCH>();
    g.bench_function(BenchmarkId::new("eval", BATCH), |b| {
        b.iter(|| net.forward_eval(black_box(&x32), &mut ws).unwrap()[0].as_flat()[0]);
    });
    // The same 32 examples through forward_eval_slice, which runs them in
    // cache-sized tiles when every layer computes rows alone.
    let mut y32 = zeros::<M::Output, BATCH>();
    g.bench_function(BenchmarkId::new("eval_slice", BATCH), |b| {
        b.iter(|| {
            net.forward_eval_slice(black_box(&x32[..]), &mut ws, &mut y32[..])
                .unwrap();
            y32[0].as_flat()[0]
        });
    });

    let mut net = load::<M>();
    let mut rng = StdRng::seed_from_u64(19);
    let targets: [usize; BATCH] = std::array::from_fn(|_| rng.random_range(0..M::CLASSES.max(1)));
    let mut grads = Box::<M::Grads>::default();
    let mut sgd = Box::new(Sgd::new(0.01, 0.9));
    let mut dy = zeros::<M::Output, BATCH>();
    g.bench_function(BenchmarkId::new("train step", BATCH), |b| {
        b.iter(|| {
            let y = net.forward_train(black_box(&x32), &mut ws).unwrap();
            let loss = M::loss(y, &x32, &targets, &mut dy);
            grads.set_zero();
            net.backward(&x32, &mut ws, &dy, &mut grads).unwrap();
            sgd.step(&mut *net, &grads);
            loss
        });
    });
    g.finish();
}

fn models(c: &mut Criterion) {
    model::<ad::Autoencoder>(c);
    model::<kws::DsCnn>(c);
    model::<ic::ResNet8>(c);
    model::<vww::MobileNet>(c);
}

/// One convolution alone: inference at batch 1, forward+backward at batch
/// 32, with random weights and inputs; `name` is `model/field (xcount)`.
fn conv<C: Layer<Scalar = f32>>(g: &mut BenchmarkGroup<'_, WallTime>, name: &str, conv: &mut C) {
    init_seeded(conv, 7);
    let out = <C::Output as Row>::SHAPE;
    // Per example: every output value is a dot product over the weights of
    // its output channel.
    let macs = (conv.parameter(0).len() * <C::Output as Row>::LEN / out[0]) as u64;
    let mut rng = StdRng::seed_from_u64(macs);

    let x1 = random_rows::<C::Input>(&mut rng, 1);
    let mut y1 = vec![<C::Output as Row>::ZERO; 1];
    g.throughput(Throughput::Elements(macs));
    g.bench_function(BenchmarkId::new(name, "eval b1"), |b| {
        b.iter(|| conv.forward_eval(black_box(&x1), &mut y1).unwrap());
    });

    let x = random_rows::<C::Input>(&mut rng, BATCH);
    let dy = random_rows::<C::Output>(&mut rng, BATCH);
    let mut y = vec![<C::Output as Row>::ZERO; BATCH];
    let mut dx = vec![<C::Input as Row>::ZERO; BATCH];
    let mut grads = Box::<C::Grads>::default();
    g.throughput(Throughput::Elements(3 * macs * BATCH as u64));
    g.bench_function(BenchmarkId::new(name, format!("fwd+bwd b{BATCH}")), |b| {
        b.iter(|| {
            let saved = conv.forward_train(black_box(&x), &mut y).unwrap();
            conv.backward(&x, &saved, black_box(&dy), &mut dx, &mut grads)
                .unwrap();
        });
    });
}

/// `conv(group, "model/field (xcount)", &mut *Type::new_boxed())` for each
/// distinct convolution of a model.
macro_rules! convs {
    ($g:expr, $model:literal: $($field:literal x $count:literal => $ty:ty),* $(,)?) => {
        $( conv($g, concat!($model, "/", $field, " (x", $count, ")"), &mut *<$ty>::new_boxed()); )*
    };
}

fn conv_layers(c: &mut Criterion) {
    let mut g = c.benchmark_group("mlperf_tiny/convs (elem = multiply-add)");
    convs!(&mut g, "kws":
        "conv" x 1 => kws::Conv,
        "block1.dw" x 4 => kws::ds::Depthwise,
        "block1.pw" x 4 => kws::ds::Pointwise,
    );
    convs!(&mut g, "ic":
        "conv" x 1 => ic::Conv,
        "layer1.conv1" x 2 => ic::Conv16,
        "layer2.conv1" x 1 => ic::Conv16To32,
        "layer2.conv2" x 1 => ic::Conv32,
        "layer2.shortcut" x 1 => ic::Shortcut32,
        "layer3.conv1" x 1 => ic::Conv32To64,
        "layer3.conv2" x 1 => ic::Conv64,
        "layer3.shortcut" x 1 => ic::Shortcut64,
    );
    convs!(&mut g, "vww":
        "conv" x 1 => vww::Conv,
        "block1.dw" x 1 => vww::b1::Depthwise,
        "block1.pw" x 1 => vww::b1::Pointwise,
        "block2.dw" x 1 => vww::b2::Depthwise,
        "block2.pw" x 1 => vww::b2::Pointwise,
        "block3.dw" x 1 => vww::b3::Depthwise,
        "block3.pw" x 1 => vww::b3::Pointwise,
        "block4.dw" x 1 => vww::b4::Depthwise,
        "block4.pw" x 1 => vww::b4::Pointwise,
        "block5.dw" x 1 => vww::b5::Depthwise,
        "block5.pw" x 1 => vww::b5::Pointwise,
        "block6.dw" x 1 => vww::b6::Depthwise,
        "block6.pw" x 1 => vww::b6::Pointwise,
        "block7.dw" x 5 => vww::b7::Depthwise,
        "block7.pw" x 5 => vww::b7::Pointwise,
        "block12.dw" x 1 => vww::b12::Depthwise,
        "block12.pw" x 1 => vww::b12::Pointwise,
        "block13.dw" x 1 => vww::b13::Depthwise,
        "block13.pw" x 1 => vww::b13::Pointwise,
    );
    g.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(20)
}

criterion_group! {
    name = benches;
    config = config();
    targets = models, conv_layers
}
criterion_main!(benches);
