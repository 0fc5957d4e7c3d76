//! Imports an ONNX model into a typed constnorm network.
//!
//! [`import`] reads an ONNX file (operator sets 11 to 21), folds its
//! constant subgraphs, and maps its data path to constnorm layers: a chain
//! from the input to the output, where a fork that joins again in an `Add`
//! becomes a `#[network(residual)]` block and one that joins in a `Mul` by
//! per-channel gates becomes `constnorm::nn::SqueezeExcitation`. The
//! result is the Rust source a person would have written (`#[network]`
//! structs, window macros, `#[normalize]` batch norms with their running
//! statistics, the ONNX node names as comments) and the weights as a
//! safetensors state dict under the fields' keys. [`write_crate`] writes
//! both as a crate with a `check` binary that runs the network on a `.npy`
//! batch, to compare with ONNX Runtime.
//!
//! What it cannot map it refuses, all at once: [`ImportError::Unsupported`]
//! lists every node with its operator and the reason. A file that is not
//! ONNX is [`ImportError::Decode`], never a panic.
//!
//! ```no_run
//! let bytes = std::fs::read("kws.onnx")?;
//! let imported = constnorm_onnx::import(&bytes, &constnorm_onnx::Options::new("kws"))?;
//! constnorm_onnx::write_crate(&imported, "kws-net".as_ref())?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # What maps
//! `Conv` (1d and 2d, groups, dilation, symmetric pads, `auto_pad`),
//! `BatchNormalization` (kept, or folded into the convolution before it with
//! [`Options::fold_batch_norm`]), `Gemm` and `MatMul` (+ `Add`) as `Linear`,
//! `Relu`, `Clip(0, 6)` and `Clip(0)`, `Sigmoid`, `Tanh`, `LeakyRelu`,
//! `HardSigmoid` (PyTorch's and Paddle's slopes), `HardSwish`, `Gelu`,
//! `Softmax` over a flat vector, `GlobalAveragePool`, `AveragePool`,
//! `MaxPool`, `Flatten` / `Reshape` to one flat vector, `Pad` (constant 0 and
//! reflect), `Identity` and `Dropout` (dropped), `RNN`, `GRU` and `LSTM`
//! (one direction or both, as PyTorch exports `batch_first` layers), the
//! `Add` of a residual block and the `Mul` of a squeeze-and-excitation gate.

#![warn(missing_docs)]

use std::fmt;
use std::path::Path;

mod emit;
pub mod graph;
pub mod map;
pub mod proto;

/// How to import.
#[derive(Clone, Debug)]
pub struct Options {
    /// The generated crate's name (snake case).
    pub name: String,
    /// The network struct's name.
    pub struct_name: String,
    /// One example's shape (without the batch dimension) for inputs whose
    /// shape the file leaves open; for a scalar input (rank 0), its value
    /// (`("sr", vec![16000])`): the input becomes a constant, and an `If` on
    /// it is resolved.
    pub inputs: Vec<(String, Vec<usize>)>,
    /// Fold every batch norm that follows a convolution or a `Linear` into
    /// its weights (what ONNX Runtime does in inference); the network
    /// then has no batch norm to train.
    pub fold_batch_norm: bool,
    /// The batch the generated `check` runs at a time.
    pub batch: usize,
    /// The `constnorm` dependency of the generated crate: a path, or a
    /// version (starting with a digit).
    pub constnorm: String,
}

impl Options {
    /// The defaults for a crate named `name`: struct `Model`, no input
    /// shapes, batch norm kept, `check` 8 examples at a time, `constnorm`
    /// by path from the directory this importer was built in.
    #[must_use]
    pub fn new(name: &str) -> Self {
        Self {
            name: name.to_string(),
            struct_name: "Model".into(),
            inputs: Vec::new(),
            fold_batch_norm: false,
            batch: 8,
            constnorm: concat!(env!("CARGO_MANIFEST_DIR"), "/..").into(),
        }
    }

    /// The shape given for input `name`.
    #[must_use]
    pub fn shape_of(&self, name: &str) -> Option<&[usize]> {
        self.inputs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, s)| s.as_slice())
    }
}

/// A node the importer cannot map, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// The node's name (`(graph)` for the graph as a whole).
    pub node: String,
    /// Its operator.
    pub op: String,
    /// Why.
    pub reason: String,
}

impl Refusal {
    pub(crate) fn new(node: &graph::Node, reason: &str) -> Self {
        Self {
            node: node.name.clone(),
            op: node.op.clone(),
            reason: reason.to_string(),
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.op.is_empty() {
            write!(f, "{}: {}", self.node, self.reason)
        } else {
            write!(f, "`{}` ({}): {}", self.node, self.op, self.reason)
        }
    }
}

/// Why a model was not imported.
#[derive(Debug)]
pub enum ImportError {
    /// The bytes are not an ONNX model (the message names the field).
    Decode(String),
    /// The model is ONNX but not one the importer reads (no graph, external
    /// data, a tensor whose size disagrees with its dimensions).
    Model(String),
    /// Nodes the importer cannot map, every one of them.
    Unsupported(Vec<Refusal>),
    /// Writing the crate failed.
    Io(String, std::io::Error),
}

impl fmt::Display for ImportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Decode(e) => write!(f, "not an ONNX model: {e}"),
            Self::Model(e) => write!(f, "{e}"),
            Self::Unsupported(refusals) => {
                write!(f, "{} node(s) cannot be mapped:", refusals.len())?;
                for r in refusals {
                    write!(f, "\n  {r}")?;
                }
                Ok(())
            }
            Self::Io(path, e) => write!(f, "{path}: {e}"),
        }
    }
}

impl std::error::Error for ImportError {}

/// An imported model: the generated files.
#[derive(Clone, Debug)]
pub struct Imported {
    /// The options it was imported with.
    pub options: Options,
    /// `src/lib.rs`.
    pub lib: String,
    /// `src/bin/check.rs`.
    pub check: String,
    /// `Cargo.toml`.
    pub cargo_toml: String,
    /// `weights.safetensors`.
    pub weights: Vec<u8>,
    /// The number of layers (fields that are not blocks).
    pub layers: usize,
}

/// Imports the ONNX model `bytes`.
///
/// # Errors
/// [`ImportError::Decode`] or [`ImportError::Model`] for a file it cannot
/// read, [`ImportError::Unsupported`] with every node it cannot map.
pub fn import(bytes: &[u8], options: &Options) -> Result<Imported, ImportError> {
    let graph = graph::decode_with(bytes, &options.inputs)?;
    let mut net = map::map(&graph, options).map_err(ImportError::Unsupported)?;
    if options.fold_batch_norm {
        map::fold_batch_norms(&mut net.items);
    }
    emit::name(&mut net);
    let source = emit::source(
        &net,
        &options.name,
        &options.struct_name,
        options.batch.max(1),
        &graph,
    );
    let weights = emit::weights(&source.tensors, &options.name).map_err(ImportError::Model)?;
    let krate = options.name.replace('-', "_");
    Ok(Imported {
        options: options.clone(),
        lib: source.lib,
        check: emit::check_bin(&krate),
        cargo_toml: emit::cargo_toml(&options.name, &options.constnorm),
        weights,
        layers: map::count_layers(&net.items),
    })
}

/// Writes `imported` as a crate in `dir` (created if needed): `Cargo.toml`,
/// `src/lib.rs`, `src/bin/check.rs` and `weights.safetensors`.
///
/// # Errors
/// [`ImportError::Io`] naming the path that could not be written.
pub fn write_crate(imported: &Imported, dir: &Path) -> Result<(), ImportError> {
    let write = |rel: &str, bytes: &[u8]| -> Result<(), ImportError> {
        let path = dir.join(rel);
        let io = |e| ImportError::Io(path.display().to_string(), e);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(io)?;
        }
        std::fs::write(&path, bytes).map_err(|e| ImportError::Io(path.display().to_string(), e))
    };
    write("Cargo.toml", imported.cargo_toml.as_bytes())?;
    write("src/lib.rs", imported.lib.as_bytes())?;
    write("src/bin/check.rs", imported.check.as_bytes())?;
    write("weights.safetensors", &imported.weights)
}
