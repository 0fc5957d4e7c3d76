//! `constnorm-onnx import MODEL.onnx --out DIR [--name NAME] [--struct NAME]
//! [--input NAME=DIMS]... [--fold-batch-norm] [--batch B] [--constnorm PATH]`

use std::path::PathBuf;
use std::process::ExitCode;

use constnorm_onnx::{Options, import, write_crate};

const USAGE: &str = "usage: constnorm-onnx import MODEL.onnx --out DIR [--name NAME] [--struct NAME] \
[--input NAME=DIMS]... [--fold-batch-norm] [--batch B] [--constnorm PATH_OR_VERSION]

  --out DIR            where to write the crate (Cargo.toml, src/lib.rs, src/bin/check.rs, weights.safetensors)
  --name NAME          the crate's name (default: the model file's stem)
  --struct NAME        the network struct's name (default: Model)
  --input NAME=DIMS    one example's shape for an input the file leaves open, without the batch: x=3x48x192;
                       for a scalar input, its value, which becomes a constant: sr=16000
  --fold-batch-norm    fold each batch norm into the convolution or Linear before it (inference only)
  --batch B            how many examples the generated `check` runs at a time (default 8)
  --constnorm DEP      the constnorm dependency: a path, or a version (default: this repository)";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("constnorm-onnx: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &[String]) -> Result<(), String> {
    let mut it = args.iter();
    if it.next().map(String::as_str) != Some("import") {
        return Err(USAGE.into());
    }
    let mut model = None;
    let mut out = None;
    let mut options = Options::new("model");
    let mut name = None;
    while let Some(arg) = it.next() {
        let mut value = |flag: &str| {
            it.next()
                .cloned()
                .ok_or(format!("{flag} needs a value\n\n{USAGE}"))
        };
        match arg.as_str() {
            "--out" => out = Some(PathBuf::from(value("--out")?)),
            "--name" => name = Some(value("--name")?),
            "--struct" => options.struct_name = value("--struct")?,
            "--batch" => {
                let v = value("--batch")?;
                options.batch = v
                    .parse()
                    .ok()
                    .filter(|&b| b > 0)
                    .ok_or(format!("--batch {v}: a positive number"))?;
            }
            "--constnorm" => options.constnorm = value("--constnorm")?,
            "--fold-batch-norm" => options.fold_batch_norm = true,
            "--input" => {
                let v = value("--input")?;
                let (input, dims) = v
                    .split_once('=')
                    .ok_or(format!("--input {v}: NAME=DIMS, as x=3x48x192"))?;
                let dims = dims
                    .split('x')
                    .map(|d| d.parse::<usize>().ok().filter(|&d| d > 0))
                    .collect::<Option<Vec<_>>>()
                    .ok_or(format!(
                        "--input {v}: DIMS are positive numbers joined by x, as 3x48x192"
                    ))?;
                options.inputs.push((input.to_string(), dims));
            }
            flag if flag.starts_with("--") => {
                return Err(format!("unknown option {flag}\n\n{USAGE}"));
            }
            path if model.is_none() => model = Some(PathBuf::from(path)),
            extra => return Err(format!("unexpected argument {extra}\n\n{USAGE}")),
        }
    }
    let model = model.ok_or(USAGE)?;
    let out = out.ok_or(format!("--out DIR is required\n\n{USAGE}"))?;
    options.name = name.unwrap_or_else(|| {
        let stem = model
            .file_stem()
            .map_or("model".into(), |s| s.to_string_lossy().into_owned());
        let s: String = stem
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_lowercase()
                } else {
                    '_'
                }
            })
            .collect();
        if s.starts_with(|c: char| c.is_ascii_digit()) {
            format!("model_{s}")
        } else {
            s
        }
    });
    let bytes = std::fs::read(&model).map_err(|e| format!("{}: {e}", model.display()))?;
    let imported = import(&bytes, &options).map_err(|e| format!("{}: {e}", model.display()))?;
    write_crate(&imported, &out).map_err(|e| e.to_string())?;
    println!(
        "{}: {} layers into {} (cargo run --release --manifest-path {}/Cargo.toml --bin check -- INPUT.npy OUTPUT.npy)",
        model.display(),
        imported.layers,
        out.display(),
        out.display()
    );
    Ok(())
}
