//! PyTorch state dicts (feature `safetensors`): files saved by PyTorch
//! (`tests/fixtures/norms_f32/f64.safetensors`) load into generated layers
//! that then reproduce PyTorch's eval outputs; saving and reloading is bit
//! exact and follows PyTorch's conventions; every bad file is an error naming
//! the key, and leaves the layer unchanged.

use constnorm::safetensors::{LoadError, LoadOptions, StateDictFile, StateDictWriter};
use constnorm::{Float, Normalization, Row, StateDict, normalize};
use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Deserialize)]
struct Fixture {
    keys: BTreeMap<String, KeyInfo>,
    eval_outputs: BTreeMap<String, EvalCase>,
}

#[derive(Deserialize)]
struct KeyInfo {
    dtype: String,
    shape: Vec<usize>,
}

#[derive(Deserialize)]
struct EvalCase {
    x: Vec<f64>,
    y_eval: Vec<f64>,
}

fn fixture(dtype: &str) -> (Vec<u8>, Fixture) {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");
    let bytes = std::fs::read(format!("{dir}/norms_{dtype}.safetensors")).unwrap();
    let json = std::fs::read_to_string(format!("{dir}/norms_{dtype}.json")).unwrap();
    (bytes, serde_json::from_str(&json).unwrap())
}

fn rows<R: Row>(values: &[f64]) -> Vec<R> {
    values
        .chunks_exact(R::LEN)
        .map(|c| {
            let mut row = R::ZERO;
            for (o, v) in row.as_flat_mut().iter_mut().zip(c) {
                *o = Float::from_f64(*v);
            }
            row
        })
        .collect()
}

/// Loads `prefix` from the fixture into a fresh `L`, runs the fixture's input
/// in inference mode, and compares with PyTorch's output.
fn check<L: Normalization + StateDict<Scalar = <L as constnorm::Parameters>::Scalar> + Default>(
    dtype: &str,
    prefix: &str,
    tol: f64,
) {
    let (bytes, fixture) = fixture(dtype);
    let file = StateDictFile::parse(&bytes).unwrap();
    let mut layer = L::default();
    file.load(prefix, &mut layer, LoadOptions::default())
        .unwrap_or_else(|e| panic!("{dtype} {prefix}: {e}"));
    let case = &fixture.eval_outputs[prefix];
    let x = rows::<L::Row>(&case.x);
    let mut y = x.clone();
    layer.forward_eval(&x, &mut y).unwrap();
    let got: Vec<f64> = y
        .iter()
        .flat_map(|r| r.as_flat().iter().map(|v| v.to_f64()))
        .collect();
    assert_eq!(got.len(), case.y_eval.len());
    for (i, (g, e)) in got.iter().zip(&case.y_eval).enumerate() {
        assert!(
            (g - e).abs() <= tol * e.abs().max(1.0),
            "{dtype} {prefix}[{i}]: {g} vs {e}"
        );
    }
}

macro_rules! pytorch_files {
    ($($name:ident: $dtype:ident, $prefix:literal, [$($attr:tt)*], $tol:expr;)*) => {$(
        #[test]
        fn $name() {
            #[normalize($($attr)*, dtype = $dtype)]
            struct L;
            check::<L>(stringify!($dtype), $prefix, $tol);
        }
    )*};
}

pytorch_files! {
    layer_f32: f32, "ln", [layer, dims = 16], 1e-5;
    layer_no_bias_f32: f32, "ln_nobias", [layer, dims = 8, bias = false], 1e-5;
    batch_1d_f32: f32, "bn1d", [batch, dims = 16], 1e-5;
    batch_2d_f32: f32, "bn2d", [batch, dims = 4, spatial = [5, 5]], 1e-5;
    rms_f32: f32, "rms", [rms, dims = 8, eps = 1e-6], 1e-5;
    group_f32: f32, "gn", [group, dims = 4, groups = 2, spatial = [5, 5]], 1e-5;
    layer_f64: f64, "ln", [layer, dims = 16], 1e-12;
    layer_no_bias_f64: f64, "ln_nobias", [layer, dims = 8, bias = false], 1e-12;
    batch_1d_f64: f64, "bn1d", [batch, dims = 16], 1e-12;
    batch_2d_f64: f64, "bn2d", [batch, dims = 4, spatial = [5, 5]], 1e-12;
    rms_f64: f64, "rms", [rms, dims = 8, eps = 1e-6], 1e-12;
    group_f64: f64, "gn", [group, dims = 4, groups = 2, spatial = [5, 5]], 1e-12;
}

#[normalize(layer, dims = 16)]
struct Ln;
#[normalize(layer, dims = 8, bias = false)]
struct LnNoBias;
#[normalize(batch, dims = 16)]
struct Bn1d;
#[normalize(batch, dims = 4, spatial = [5, 5])]
struct Bn2d;
#[normalize(rms, dims = 8, eps = 1e-6)]
struct Rms;
#[normalize(group, dims = 4, groups = 2, spatial = [5, 5])]
struct Gn;
#[normalize(batch, dims = 16, dtype = f64)]
struct Bn1d64;

/// Every layer of the f32 fixture, loaded.
fn loaded() -> (Ln, LnNoBias, Bn1d, Bn2d, Rms, Gn) {
    let (bytes, _) = fixture("f32");
    let file = StateDictFile::parse(&bytes).unwrap();
    let o = LoadOptions::default();
    let mut all = (
        Ln::new(),
        LnNoBias::new(),
        Bn1d::new(),
        Bn2d::new(),
        Rms::new(),
        Gn::new(),
    );
    file.load("ln", &mut all.0, o).unwrap();
    file.load("ln_nobias", &mut all.1, o).unwrap();
    file.load("bn1d", &mut all.2, o).unwrap();
    file.load("bn2d", &mut all.3, o).unwrap();
    file.load("rms", &mut all.4, o).unwrap();
    file.load("gn", &mut all.5, o).unwrap();
    all
}

#[test]
fn saving_follows_pytorch_conventions_and_round_trips_bit_exactly() {
    let (ln, ln_nobias, bn1d, bn2d, rms, gn) = loaded();
    let mut writer = StateDictWriter::new();
    writer.add("ln", &ln).unwrap();
    writer.add("ln_nobias", &ln_nobias).unwrap();
    writer.add("bn1d", &bn1d).unwrap();
    writer.add("bn2d", &bn2d).unwrap();
    writer.add("rms", &rms).unwrap();
    writer.add("gn", &gn).unwrap();
    let bytes = writer.to_bytes().unwrap();
    let file = StateDictFile::parse(&bytes).unwrap();

    // The same keys, dtypes and shapes as PyTorch's file.
    let (_, fixture) = fixture("f32");
    assert_eq!(
        file.keys(),
        fixture.keys.keys().cloned().collect::<Vec<_>>()
    );
    let ours = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    for (key, info) in &fixture.keys {
        let view = ours.tensor(key).unwrap();
        assert_eq!(view.shape(), info.shape.as_slice(), "{key}");
        let dtype = match info.dtype.as_str() {
            "torch.float32" => safetensors::Dtype::F32,
            "torch.int64" => safetensors::Dtype::I64,
            other => panic!("{other}"),
        };
        assert_eq!(view.dtype(), dtype, "{key}");
    }

    // And loading it back gives the same layers, bit for bit.
    let o = LoadOptions::default();
    let mut again = (Ln::new(), Bn2d::new());
    file.load("ln", &mut again.0, o).unwrap();
    file.load("bn2d", &mut again.1, o).unwrap();
    assert_eq!(format!("{:?}", again.0), format!("{ln:?}"));
    assert_eq!(format!("{:?}", again.1), format!("{bn2d:?}"));
    assert_eq!(again.1.num_batches_tracked, bn2d.num_batches_tracked);
    assert!(
        bn2d.num_batches_tracked > 0,
        "the fixture's layers were trained"
    );
}

/// Runs a load that must fail, and checks the error and that the layer is
/// unchanged.
fn refuses<L: StateDict + std::fmt::Debug>(
    bytes: &[u8],
    prefix: &str,
    layer: &mut L,
    options: LoadOptions,
    expected: &LoadError,
) {
    let before = format!("{layer:?}");
    let error = StateDictFile::parse(bytes)
        .and_then(|f| f.load(prefix, layer, options))
        .unwrap_err();
    assert_eq!(&error, expected);
    assert_eq!(
        format!("{layer:?}"),
        before,
        "layer changed by a failed load"
    );
    assert!(!error.to_string().is_empty());
}

#[test]
fn every_bad_file_is_an_error_naming_the_key() {
    let (bytes, _) = fixture("f32");
    let strict = LoadOptions::default();
    let (mut ln, mut bn) = (Ln::new(), Bn1d::new());
    bn.running_mean = [0.25; 16];

    // A key the file lacks: ln_nobias has no bias.
    #[normalize(layer, dims = 8)]
    struct LnWithBias;
    refuses(
        &bytes,
        "ln_nobias",
        &mut LnWithBias::new(),
        strict,
        &LoadError::MissingKey("ln_nobias.bias".into()),
    );
    refuses(
        &bytes,
        "nothing",
        &mut bn,
        strict,
        &LoadError::MissingKey("nothing.weight".into()),
    );

    // Strict: a key under the prefix the layer does not have.
    #[normalize(layer, dims = 16, bias = false)]
    struct LnNoBias16;
    refuses(
        &bytes,
        "ln",
        &mut LnNoBias16::new(),
        strict,
        &LoadError::UnexpectedKey("ln.bias".into()),
    );
    let mut lenient = LnNoBias16::new();
    StateDictFile::parse(&bytes)
        .unwrap()
        .load(
            "ln",
            &mut lenient,
            LoadOptions {
                strict: false,
                ..strict
            },
        )
        .unwrap();

    // Wrong shape.
    #[normalize(layer, dims = 8)]
    struct Ln8;
    refuses(
        &bytes,
        "ln",
        &mut Ln8::new(),
        strict,
        &LoadError::Shape {
            key: "ln.weight".into(),
            expected: vec![8],
            found: vec![16],
        },
    );

    // Wrong dtype, unless asked to convert.
    let mut bn64 = Bn1d64::new();
    refuses(
        &bytes,
        "bn1d",
        &mut bn64,
        strict,
        &LoadError::Dtype {
            key: "bn1d.weight".into(),
            expected: "f64",
            found: "f32".into(),
        },
    );
    StateDictFile::parse(&bytes)
        .unwrap()
        .load(
            "bn1d",
            &mut bn64,
            LoadOptions {
                convert_dtype: true,
                ..strict
            },
        )
        .unwrap();
    assert_eq!(bn64.running_var.map(|v| v as f32), loaded().2.running_var);

    // Non-finite values: a NaN running variance is refused.
    let mut poisoned = loaded().2;
    poisoned.running_var[3] = f32::NAN;
    let mut writer = StateDictWriter::new();
    writer.add("bn", &poisoned).unwrap();
    let bad = writer.to_bytes().unwrap();
    refuses(
        &bad,
        "bn",
        &mut bn,
        strict,
        &LoadError::NonFinite {
            key: "bn.running_var".into(),
            index: 3,
        },
    );

    // A negative running variance is refused too (its square root in
    // inference would be NaN).
    let mut negative = loaded().2;
    negative.running_var[5] = -0.5;
    let mut writer = StateDictWriter::new();
    writer.add("bn", &negative).unwrap();
    refuses(
        &writer.to_bytes().unwrap(),
        "bn",
        &mut bn,
        strict,
        &LoadError::NegativeVariance {
            key: "bn.running_var".into(),
            index: 5,
        },
    );

    // Not a safetensors file at all.
    let error = StateDictFile::parse(b"not a safetensors file")
        .err()
        .unwrap();
    assert!(matches!(error, LoadError::Format(_)), "{error:?}");

    // Saving the same key twice.
    let mut writer = StateDictWriter::new();
    writer.add("a", &ln).unwrap();
    assert_eq!(
        writer.add("a", &ln),
        Err(LoadError::DuplicateKey("a.weight".into()))
    );
    ln.weight[0] = 2.0;
    assert_eq!(ln.weight[0], 2.0);
}

#[normalize(batch, dims = 3)]
struct RenamedBn;

/// A file in another framework's names: Paddle's batch norm tensors, no
/// `num_batches_tracked`.
fn paddle_file(variance: [f32; 3]) -> Vec<u8> {
    use safetensors::tensor::{Dtype, TensorView, serialize};
    let bytes = |v: [f32; 3]| -> Vec<u8> { v.iter().flat_map(|x| x.to_le_bytes()).collect() };
    let tensors = [
        ("bn_scale", bytes([1.0, 2.0, 3.0])),
        ("bn_offset", bytes([0.5, 0.25, 0.125])),
        ("bn_mean", bytes([-1.0, 0.0, 1.0])),
        ("bn_variance", bytes(variance)),
    ];
    let views: Vec<(&str, TensorView<'_>)> = tensors
        .iter()
        .map(|(k, b)| (*k, TensorView::new(Dtype::F32, vec![3], b).unwrap()))
        .collect();
    serialize(views, None).unwrap()
}

const PADDLE_MAP: [(&str, &str); 4] = [
    ("bn_scale", "weight"),
    ("bn_offset", "bias"),
    ("bn_mean", "running_mean"),
    ("bn_variance", "running_var"),
];

#[test]
fn a_key_map_loads_another_frameworks_names() {
    let bytes = paddle_file([4.0, 5.0, 6.0]);
    let file = StateDictFile::parse(&bytes).unwrap();
    let mut bn = RenamedBn::new();
    bn.num_batches_tracked = 7;
    file.load_renamed(&mut bn, &PADDLE_MAP, LoadOptions::default())
        .unwrap();
    assert_eq!(bn.weight, [1.0, 2.0, 3.0]);
    assert_eq!(bn.bias, [0.5, 0.25, 0.125]);
    assert_eq!(bn.running_mean, [-1.0, 0.0, 1.0]);
    assert_eq!(bn.running_var, [4.0, 5.0, 6.0]);
    // No counter in the file: the layer keeps its own, as PyTorch does.
    assert_eq!(bn.num_batches_tracked, 7);
    // Plain `load` still requires it (PyTorch's own files have it).
    let mut plain = RenamedBn::new();
    assert!(matches!(
        file.load("", &mut plain, LoadOptions::default()),
        Err(LoadError::MissingKey(_))
    ));
}

#[test]
fn a_bad_key_map_or_file_is_refused_and_changes_nothing() {
    let bytes = paddle_file([4.0, 5.0, 6.0]);
    let file = StateDictFile::parse(&bytes).unwrap();
    let mut bn = RenamedBn::new();
    let before = bn.clone();
    // A map to a key the layer lacks.
    let mut map = PADDLE_MAP.to_vec();
    map.push(("bn_extra", "running_std"));
    let err = file
        .load_renamed(&mut bn, &map, LoadOptions::default())
        .unwrap_err();
    assert_eq!(
        err,
        LoadError::UnusedRename {
            from: "bn_extra".into(),
            to: "running_std".into()
        }
    );
    assert!(err.to_string().contains("`running_std`"), "{err}");
    // A tensor the map leaves out: strict loading refuses it by name.
    let err = file
        .load_renamed(&mut bn, &PADDLE_MAP[..3], LoadOptions::default())
        .unwrap_err();
    assert_eq!(err, LoadError::MissingKey("running_var".into()));
    // A negative variance under its file name is still a variance.
    let bad = paddle_file([4.0, -5.0, 6.0]);
    let err = StateDictFile::parse(&bad).unwrap().load_renamed(
        &mut bn,
        &PADDLE_MAP,
        LoadOptions::default(),
    );
    assert!(
        matches!(err, Err(LoadError::NegativeVariance { .. })),
        "{err:?}"
    );
    assert_eq!(bn, before);
}
