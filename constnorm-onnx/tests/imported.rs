//! The four MLPerf Tiny models, as PyTorch exported them to ONNX
//! (`benches/data/mlperf_tiny/*.onnx`, from `benches/mlperf_tiny.py`),
//! imported, compiled and run against ONNX Runtime's outputs on the same
//! inputs (`tests/data/*.npy`, from `tests/make_reference.py`).
//!
//! The generated sources are checked in (`tests/imported/*.rs`) and compiled
//! here as modules; each test first imports the ONNX file again and
//! requires the same source, so what runs is what the importer writes
//! today (`UPDATE_SNAPSHOTS=1` rewrites them after a deliberate change).
//! The weights come from that same import, in memory.

mod common;

use common::root;
use constnorm::runtime::npy;
use constnorm_onnx::{Imported, Options, import};

// The importer's output as it writes it: rustfmt would rewrap long lines.
#[rustfmt::skip]
#[allow(dead_code)] // `load` and the shapes are for the generated crate's users
#[path = "imported/ad.rs"]
mod ad;
#[rustfmt::skip]
#[allow(dead_code)]
#[path = "imported/ad_folded.rs"]
mod ad_folded;
#[rustfmt::skip]
#[allow(dead_code)]
#[path = "imported/ic.rs"]
mod ic;
#[rustfmt::skip]
#[allow(dead_code)]
#[path = "imported/kws.rs"]
mod kws;
#[rustfmt::skip]
#[allow(dead_code)]
#[path = "imported/ppocr_cls.rs"]
mod ppocr_cls;
#[rustfmt::skip]
#[allow(dead_code)]
#[path = "imported/vww.rs"]
mod vww;


/// Imports `benches/data/mlperf_tiny/{model}.onnx` and requires the
/// checked-in source `tests/imported/{snapshot}.rs`.
fn import_model(model: &str, snapshot: &str, fold: bool) -> Imported {
    let options = Options {
        struct_name: "Net".into(),
        batch: 4,
        fold_batch_norm: fold,
        ..Options::new(model)
    };
    import_file(
        &format!("../benches/data/mlperf_tiny/{model}.onnx"),
        snapshot,
        &options,
    )
}

/// Imports the ONNX file at `path` (from this crate's directory) and
/// requires the checked-in source `tests/imported/{snapshot}.rs`.
fn import_file(path: &str, snapshot: &str, options: &Options) -> Imported {
    let path = root().join(path);
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let imported = import(&bytes, options).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    common::snapshot(snapshot, &imported.lib, &path.display().to_string());
    imported
}

/// [`common::against_onnx_runtime`] on `tests/data`.
fn against_onnx_runtime(model: &str, check: common::Check<'_>) -> f32 {
    common::against_onnx_runtime(&root().join("tests/data"), model, check)
}

#[test]
fn ad_keeps_its_batch_norms_and_matches_onnx_runtime() {
    let imported = import_model("ad", "ad", false);
    assert!(imported.lib.contains("#[normalize(batch, dims = 128)]"));
    let net = ad::from_bytes(&imported.weights).unwrap();
    // The running statistics came in: not the defaults (0 and 1).
    assert!(net.bn1.running_mean.iter().any(|&m| m != 0.0));
    against_onnx_runtime("ad", &|x| ad::check(&net, x));
}

#[test]
fn ad_with_batch_norm_folded_matches_onnx_runtime() {
    let imported = import_model("ad", "ad_folded", true);
    assert!(
        !imported.lib.contains("normalize"),
        "every batch norm follows a Linear"
    );
    let net = ad_folded::from_bytes(&imported.weights).unwrap();
    against_onnx_runtime("ad", &|x| ad_folded::check(&net, x));
}

#[test]
fn kws_matches_onnx_runtime() {
    let imported = import_model("kws", "kws", false);
    let net = kws::from_bytes(&imported.weights).unwrap();
    against_onnx_runtime("kws", &|x| kws::check(&net, x));
}

#[test]
fn ic_residual_blocks_match_onnx_runtime() {
    let imported = import_model("ic", "ic", false);
    assert_eq!(imported.lib.matches("#[network(residual)]").count(), 3);
    assert_eq!(imported.lib.matches("#[shortcut]").count(), 2);
    let net = ic::from_bytes(&imported.weights).unwrap();
    against_onnx_runtime("ic", &|x| ic::check(&net, x));
}

#[test]
fn vww_matches_onnx_runtime() {
    let imported = import_model("vww", "vww", false);
    let net = vww::from_bytes(&imported.weights).unwrap();
    against_onnx_runtime("vww", &|x| vww::check(&net, x));
}

#[test]
fn weights_record_their_onnx_names() {
    let imported = import_model("ic", "ic", false);
    let (_, meta) = safetensors::SafeTensors::read_metadata(&imported.weights).unwrap();
    let meta = meta.metadata().as_ref().unwrap();
    assert_eq!(meta["format"], "pt");
    assert_eq!(
        meta["onnx:layer2.shortcut.weight"],
        "layer2.shortcut.weight"
    );
    assert_eq!(meta["onnx:fc.bias"], "fc.bias");
}

#[test]
fn check_refuses_an_input_of_the_wrong_shape() {
    let imported = import_model("kws", "kws", false);
    let net = kws::from_bytes(&imported.weights).unwrap();
    let wrong = npy::to_bytes(&[2, 49, 10], &[0.0; 980]);
    let e = kws::check(&net, &wrong).unwrap_err().to_string();
    assert!(e.contains("[N, 1, 49, 10]"), "{e}");
    assert!(kws::check(&net, b"not npy").is_err());
    // No example: an empty output, not an error.
    let none = npy::read(&kws::check(&net, &npy::to_bytes(&[0, 1, 49, 10], &[])).unwrap()).unwrap();
    assert_eq!(none.shape, [0, 12]);
}

/// PP-OCR's text-direction classifier as Paddle exported it (operator set
/// 11): a hard swish written out as `x * Clip(x + 3, 0, 6) / 6`, biases
/// added by their own nodes, Paddle's hard sigmoid, squeeze-and-excitation,
/// the batch read back from `Shape` for the final reshape, and an input
/// whose size the file leaves open.
#[test]
fn ppocr_text_direction_classifier_matches_onnx_runtime() {
    let path = "../models/ppocr_cls/ch_ppocr_mobile_v2.0_cls_infer.onnx";
    let mut options = Options {
        struct_name: "TextDirection".into(),
        batch: 4,
        ..Options::new("ppocr_cls")
    };
    let bytes = std::fs::read(root().join(path)).unwrap();
    let e = import(&bytes, &options).unwrap_err().to_string();
    assert!(e.contains("--input x=DIMS"), "{e}");
    options.inputs.push(("x".into(), vec![3, 48, 192]));
    let imported = import_file(path, "ppocr_cls", &options);
    // The hand-written network's structure (constnorm::models): 35 batch
    // norms, 7 residual blocks, 9 gates.
    assert_eq!(imported.lib.matches("#[normalize(batch").count(), 35);
    assert_eq!(imported.lib.matches("#[network(residual)]").count(), 7);
    assert_eq!(imported.lib.matches("SqueezeExcitation<").count(), 9);
    assert!(imported.lib.contains("pub expand_hardswish: HardswishOn<"));
    let net = ppocr_cls::from_bytes(&imported.weights).unwrap();
    against_onnx_runtime("ppocr_cls", &|x| ppocr_cls::check(&net, x));
}
