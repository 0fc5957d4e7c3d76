//! What the importer's tests share: the checked-in generated sources, and
//! the comparison of an imported network with ONNX Runtime's outputs.

#![allow(dead_code)] // each test binary uses what it needs

use std::path::{Path, PathBuf};

use constnorm::runtime::npy;

/// The generated `check` of an imported network: `.npy` in, `.npy` out.
pub type Check<'a> = &'a dyn Fn(&[u8]) -> Result<Vec<u8>, Box<dyn std::error::Error + Send + Sync>>;

/// This crate's directory.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

/// Requires `source` to be the checked-in `tests/imported/{snapshot}.rs`
/// (rewritten first with `UPDATE_SNAPSHOTS=1`, after a deliberate change);
/// `what` names the model in the message.
pub fn snapshot(snapshot: &str, source: &str, what: &str) {
    let file = root().join(format!("tests/imported/{snapshot}.rs"));
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::write(&file, source).unwrap();
    }
    let expected = std::fs::read_to_string(&file).unwrap_or_default();
    assert!(
        source == expected,
        "the source generated for {what} differs from {} (UPDATE_SNAPSHOTS=1 after a deliberate change):\n{source}",
        file.display(),
    );
}

/// Runs `check` on `{dir}/{model}.x.npy` and compares with ONNX Runtime's
/// `{dir}/{model}.ort.npy`: the same shape, every value within 1e-5. The
/// worst difference is printed and returned.
pub fn against_onnx_runtime(dir: &Path, model: &str, check: Check<'_>) -> f32 {
    let x = std::fs::read(dir.join(format!("{model}.x.npy"))).unwrap();
    let ort = npy::read(&std::fs::read(dir.join(format!("{model}.ort.npy"))).unwrap()).unwrap();
    let ours = npy::read(&check(&x).unwrap()).unwrap();
    assert_eq!(ours.shape, ort.shape, "{model}: output shape");
    let worst = ours
        .data
        .iter()
        .zip(&ort.data)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    println!(
        "{model}: worst |constnorm - ONNX Runtime| = {worst:e} over {} values",
        ours.data.len()
    );
    assert!(worst <= 1e-5, "{model}: {worst:e} from ONNX Runtime");
    worst
}
