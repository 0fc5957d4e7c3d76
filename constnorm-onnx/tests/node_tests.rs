//! ONNX's backend node tests (`onnx.backend.test.case.node`, written into
//! `tests/data/node` by `tests/make_node_tests.py`) for every operator the
//! importer maps: each test's model is imported; what maps is compiled (the
//! checked-in `tests/imported/node/*.rs`, required equal to what the
//! importer writes today) and run on the test's input against its output;
//! what does not map must be refused with a reason. The counts per
//! operator are `tests/data/node/REPORT.md`, checked in and required equal.
//! `UPDATE_SNAPSHOTS=1` rewrites the sources, their module list and the
//! report after a deliberate change (then run the tests again: the new
//! sources compile in the second run).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use constnorm::runtime::npy;
use constnorm_onnx::proto::ModelProto;
use constnorm_onnx::{ImportError, Options, import};
use prost::Message;

#[rustfmt::skip]
#[path = "imported/node/mod.rs"]
mod node;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

/// ONNX's backend runner's comparison (`rtol = 1e-3`, `atol = 1e-7`):
/// some tests' outputs are decimal literals of four places (the average
/// pool whose last window starts on the padding expects 0.1511 for
/// 1.3595 / 9). The worst difference per operator is in the report.
fn close(ours: f32, theirs: f32) -> bool {
    (ours - theirs).abs() <= 1e-7 + 1e-3 * theirs.abs() || (ours.is_nan() && theirs.is_nan())
}

#[derive(Default)]
struct Count {
    passed: usize,
    refused: usize,
    failed: usize,
    worst: f32,
}

#[test]
fn onnx_backend_node_tests() {
    let update = std::env::var_os("UPDATE_SNAPSHOTS").is_some();
    let data = root().join("tests/data/node");
    let mut cases: Vec<String> = std::fs::read_dir(&data)
        .unwrap()
        .filter_map(|e| {
            let e = e.unwrap();
            e.file_type()
                .unwrap()
                .is_dir()
                .then(|| e.file_name().to_string_lossy().into_owned())
        })
        .collect();
    cases.sort();
    assert!(
        cases.len() > 150,
        "{} node tests: run tests/make_node_tests.py",
        cases.len()
    );
    let runners: BTreeMap<&str, node::Runner> = node::CASES.iter().copied().collect();
    let mut counts: BTreeMap<String, Count> = BTreeMap::new();
    let mut refusals = String::new();
    let mut failures = Vec::new();
    let mut mapped = Vec::new();
    for case in &cases {
        let dir = data.join(case);
        let bytes = std::fs::read(dir.join("model.onnx")).unwrap();
        let model = ModelProto::decode(bytes.as_slice()).unwrap();
        let op = model
            .graph
            .as_ref()
            .and_then(|g| g.node.first())
            .map_or("?".into(), |n| n.op_type.clone());
        let count = counts.entry(op).or_default();
        let options = Options {
            struct_name: "Net".into(),
            batch: 2,
            ..Options::new(case)
        };
        let imported = match import(&bytes, &options) {
            Ok(imported) => imported,
            Err(ImportError::Unsupported(r)) => {
                count.refused += 1;
                let reasons: Vec<String> = r.iter().map(ToString::to_string).collect();
                let _ = writeln!(refusals, "- `{case}`: {}", reasons.join("; "));
                continue;
            }
            Err(e) => {
                count.refused += 1;
                let _ = writeln!(refusals, "- `{case}`: {e}");
                continue;
            }
        };
        mapped.push(case.clone());
        let file = root().join(format!("tests/imported/node/{case}.rs"));
        if update {
            std::fs::write(&file, &imported.lib).unwrap();
        }
        let result = (|| -> Result<f32, String> {
            let expected = std::fs::read_to_string(&file).unwrap_or_default();
            if imported.lib != expected {
                return Err("the generated source differs from the checked-in one".into());
            }
            let run = runners
                .get(case.as_str())
                .ok_or("not compiled (UPDATE_SNAPSHOTS=1, then again)")?;
            let x = std::fs::read(dir.join("x.npy")).map_err(|e| format!("x.npy: {e}"))?;
            let y =
                npy::read(&std::fs::read(dir.join("y.npy")).map_err(|e| format!("y.npy: {e}"))?)
                    .unwrap();
            let ours = npy::read(&run(&imported.weights, &x).map_err(|e| e.to_string())?).unwrap();
            // The shapes agree, but for one difference the importer makes on
            // purpose: a recurrent layer's `Y` of one direction has no
            // direction axis (`[N, S, H]` for ONNX's `[N, S, 1, H]`).
            let squeezed_direction = y.shape.len() == 4
                && y.shape[2] == 1
                && ours.shape == [y.shape[0], y.shape[1], y.shape[3]];
            if ours.shape != y.shape && !squeezed_direction {
                return Err(format!("shape {:?} where {:?}", ours.shape, y.shape));
            }
            let worst = ours
                .data
                .iter()
                .zip(&y.data)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0f32, f32::max);
            if ours.data.iter().zip(&y.data).all(|(&a, &b)| close(a, b)) {
                Ok(worst)
            } else {
                Err(format!("{worst:e} from the expected output"))
            }
        })();
        match result {
            Ok(worst) => {
                count.passed += 1;
                count.worst = count.worst.max(worst);
            }
            Err(why) => {
                count.failed += 1;
                failures.push(format!("{case}: {why}"));
            }
        }
    }
    let mut report = String::from(
        "# ONNX backend node tests through the importer\n\n\
         Written by `cargo test -p constnorm-onnx --test node_tests` with `UPDATE_SNAPSHOTS=1`;\n\
         the test requires this file to stay as it is. Passed: imported, compiled and within\n\
         `1e-7 + 1e-3 |y|` of the test's output (ONNX's runner's tolerance), the worst absolute\n\
         difference per operator beside it. Refused: not imported, with the reason below.\n\n\
         | operator | passed | refused | failed | worst difference |\n|---|---:|---:|---:|---:|\n",
    );
    let mut total = Count::default();
    for (op, c) in &counts {
        let _ = writeln!(
            report,
            "| {op} | {} | {} | {} | {:.1e} |",
            c.passed, c.refused, c.failed, c.worst
        );
        total.passed += c.passed;
        total.refused += c.refused;
        total.failed += c.failed;
    }
    let _ = writeln!(
        report,
        "| **all {}** | **{}** | **{}** | **{}** | |\n\n## Refused\n\n{refusals}",
        cases.len(),
        total.passed,
        total.refused,
        total.failed
    );
    let report_file = data.join("REPORT.md");
    if update {
        std::fs::write(&report_file, &report).unwrap();
        let mut list = String::from(
            "//! The node tests that import, as the importer writes them (generated by\n\
             //! `tests/node_tests.rs` with `UPDATE_SNAPSHOTS=1`).\n\n\
             /// Loads the weights and runs `check` on an input `.npy`.\n\
             pub type Runner = fn(&[u8], &[u8]) -> Result<Vec<u8>, Box<dyn std::error::Error + Send + Sync>>;\n\n",
        );
        for case in &mapped {
            let module = case.to_lowercase();
            let _ = writeln!(
                list,
                "#[rustfmt::skip]\n#[allow(dead_code)]\n#[path = \"{case}.rs\"]\npub mod {module};"
            );
        }
        list.push_str(
            "\n/// Every compiled test by name.\npub const CASES: &[(&str, Runner)] = &[\n",
        );
        for case in &mapped {
            let m = case.to_lowercase();
            let _ = writeln!(
                list,
                "    (\"{case}\", |w, x| {m}::check(&*{m}::from_bytes(w)?, x)),"
            );
        }
        list.push_str("];\n");
        std::fs::write(root().join("tests/imported/node/mod.rs"), list).unwrap();
    }
    println!("{report}");
    assert!(
        failures.is_empty(),
        "{} failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    let expected = std::fs::read_to_string(&report_file).unwrap_or_default();
    assert!(
        report == expected,
        "the counts differ from {}:\n{report}",
        report_file.display()
    );
}
