//! The command: `constnorm-onnx import MODEL.onnx --out DIR ...`.

use std::path::PathBuf;
use std::process::Command;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_constnorm-onnx"))
}

fn scratch(name: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("constnorm-onnx-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[test]
fn import_writes_a_crate() {
    let out = scratch("kws");
    let model = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../benches/data/mlperf_tiny/kws.onnx"
    );
    let run = bin()
        .args(["import", model, "--out"])
        .arg(&out)
        .args(["--struct", "DsCnn", "--batch", "16", "--constnorm", "0.1"])
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(stdout.contains("21 layers"), "{stdout}");
    let lib = std::fs::read_to_string(out.join("src/lib.rs")).unwrap();
    assert!(lib.contains("pub struct DsCnn {"), "{lib}");
    assert!(lib.contains("DsCnnWorkspace::<16>"), "{lib}");
    let cargo = std::fs::read_to_string(out.join("Cargo.toml")).unwrap();
    assert!(
        cargo.contains("name = \"kws\"") && cargo.contains("version = \"0.1\""),
        "{cargo}"
    );
    assert!(cargo.contains("[workspace]"), "its own workspace: {cargo}");
    let check = std::fs::read_to_string(out.join("src/bin/check.rs")).unwrap();
    assert!(check.contains("kws::check(&net, &x)"), "{check}");
    let weights = std::fs::read(out.join("weights.safetensors")).unwrap();
    let file = safetensors::SafeTensors::deserialize(&weights).unwrap();
    assert_eq!(file.tensor("conv.weight").unwrap().shape(), [64, 1, 10, 4]);
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn usage_and_refusals_are_errors_with_a_message() {
    let run = bin().output().unwrap();
    assert!(!run.status.success());
    assert!(String::from_utf8_lossy(&run.stderr).contains("usage: constnorm-onnx import"));
    let run = bin().args(["import", "x.onnx"]).output().unwrap();
    assert!(String::from_utf8_lossy(&run.stderr).contains("--out DIR is required"));
    let run = bin()
        .args(["import", "x.onnx", "--out", "d", "--input", "x=3xq"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&run.stderr).contains("positive numbers joined by x"));
    let run = bin()
        .args(["import", "/nonexistent.onnx", "--out", "d"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&run.stderr).contains("/nonexistent.onnx"));
    // The classifier without its input size: the refusal, and nothing written.
    let out = scratch("refused");
    let model = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../models/ppocr_cls/ch_ppocr_mobile_v2.0_cls_infer.onnx"
    );
    let run = bin()
        .args(["import", model, "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&run.stderr).contains("--input x=DIMS"));
    assert!(!out.exists());
}
