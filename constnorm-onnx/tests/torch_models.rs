//! Models written in PyTorch and exported to ONNX by
//! `tests/make_torch_models.py` (the TorchScript exporter, opset 17, with
//! the batch norms kept as nodes), imported, compiled and run against ONNX
//! Runtime's outputs; and the imported CNN trained one SGD step against
//! PyTorch's own step.
//!
//! Each is exported with and without constant folding: both import to the
//! same source (the checked-in `tests/imported/torch_*.rs`, compiled here).

use std::path::{Path, PathBuf};

mod common;

use constnorm::nn::{Sgd, cross_entropy};
use constnorm::safetensors::StateDictWriter;
use constnorm::{Gradients, Network};
use constnorm_onnx::{Imported, Options, import};
use safetensors::SafeTensors;

#[rustfmt::skip]
#[allow(dead_code)] // `load` and the shapes are for the generated crate's users
#[path = "imported/torch_cnn.rs"]
mod torch_cnn;
#[rustfmt::skip]
#[allow(dead_code)]
#[path = "imported/torch_bilstm.rs"]
mod torch_bilstm;
#[rustfmt::skip]
#[allow(dead_code)]
#[path = "imported/conv_same_upper.rs"]
mod conv_same_upper;
#[rustfmt::skip]
#[allow(dead_code)]
#[path = "imported/torch_gru.rs"]
mod torch_gru;
#[rustfmt::skip]
#[allow(dead_code)]
#[path = "imported/torch_mlp.rs"]
mod torch_mlp;
#[rustfmt::skip]
#[allow(dead_code)]
#[path = "imported/torch_mlp_opset16.rs"]
mod torch_mlp_opset16;
#[rustfmt::skip]
#[allow(dead_code)]
#[path = "imported/torch_rnn.rs"]
mod torch_rnn;
#[rustfmt::skip]
#[allow(dead_code)]
#[path = "imported/torch_resnet_block.rs"]
mod torch_resnet_block;
#[rustfmt::skip]
#[allow(dead_code)]
#[path = "imported/torch_separable.rs"]
mod torch_separable;

fn data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/torch")
}

/// Imports `{model}.onnx` and `{model}.nofold.onnx`, requires the same
/// source from both and the checked-in `tests/imported/torch_{model}.rs`;
/// returns the import of the unfolded file (PyTorch's names for every
/// tensor).
fn import_both(model: &str) -> Imported {
    let options = Options {
        struct_name: "Net".into(),
        batch: 4,
        ..Options::new(model)
    };
    let read = |name: &str| std::fs::read(data().join(name)).unwrap();
    let folded = import(&read(&format!("{model}.onnx")), &options)
        .unwrap_or_else(|e| panic!("{model}: {e}"));
    let unfolded = import(&read(&format!("{model}.nofold.onnx")), &options)
        .unwrap_or_else(|e| panic!("{model}: {e}"));
    assert_eq!(
        folded.lib, unfolded.lib,
        "{model}: with and without constant folding"
    );
    common::snapshot(&format!("torch_{model}"), &unfolded.lib, model);
    unfolded
}

/// [`common::against_onnx_runtime`] on `tests/data/torch`.
fn against_onnx_runtime(model: &str, check: common::Check<'_>) {
    common::against_onnx_runtime(&data(), model, check);
}

#[test]
fn cnn_with_batch_norm_and_group_norm_matches_onnx_runtime() {
    let imported = import_both("cnn");
    // PyTorch's opset-17 group norm (reshape, instance norm, reshape,
    // scale, shift) is one group norm again.
    assert!(
        imported
            .lib
            .contains("#[normalize(group, dims = 8, groups = 2, spatial = [4, 4])]")
    );
    assert!(
        imported
            .lib
            .contains("#[normalize(batch, dims = 4, spatial = [8, 8])]")
    );
    let net = torch_cnn::from_bytes(&imported.weights).unwrap();
    against_onnx_runtime("cnn", &|x| torch_cnn::check(&net, x));
}

#[test]
fn mlp_with_batch_norm_and_layer_norm_matches_onnx_runtime() {
    let imported = import_both("mlp");
    assert!(imported.lib.contains("#[normalize(layer, dims = 16)]"));
    let net = torch_mlp::from_bytes(&imported.weights).unwrap();
    against_onnx_runtime("mlp", &|x| torch_mlp::check(&net, x));
}

#[test]
fn resnet_block_with_a_projection_shortcut_matches_onnx_runtime() {
    let imported = import_both("resnet_block");
    // The shortcut (1x1 conv + batch norm) is a nested network.
    assert!(
        imported.lib.contains("#[shortcut]\n    #[nested]"),
        "{}",
        imported.lib
    );
    let net = torch_resnet_block::from_bytes(&imported.weights).unwrap();
    against_onnx_runtime("resnet_block", &|x| torch_resnet_block::check(&net, x));
}

#[test]
fn depthwise_separable_block_matches_onnx_runtime() {
    let imported = import_both("separable");
    assert!(imported.lib.contains("groups = 6"));
    let net = torch_separable::from_bytes(&imported.weights).unwrap();
    against_onnx_runtime("separable", &|x| torch_separable::check(&net, x));
}

/// The imported CNN (batch norm kept, with its running statistics) trains:
/// one SGD step (lr 0.1, momentum 0.9) in training mode on PyTorch's batch
/// gives PyTorch's loss and PyTorch's state dict after the step, running
/// statistics and all, each tensor found by the ONNX name the importer
/// recorded for it.
#[test]
fn imported_cnn_trains_one_sgd_step_as_pytorch_does() {
    let imported = import_both("cnn");
    let mut net = torch_cnn::from_bytes(&imported.weights).unwrap();
    let bytes = std::fs::read(data().join("cnn.step.safetensors")).unwrap();
    let step = SafeTensors::deserialize(&bytes).unwrap();
    let floats = |key: &str| -> Vec<f32> {
        let t = step.tensor(key).unwrap();
        t.data()
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect()
    };
    let pixels = floats("x");
    let mut x = [[[[0.0f32; 8]; 8]; 1]; 8];
    for (i, v) in pixels.iter().enumerate() {
        x[i / 64][0][(i / 8) % 8][i % 8] = *v;
    }
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let targets: Vec<usize> = floats("target").iter().map(|&t| t as usize).collect();
    let mut ws = torch_cnn::NetWorkspace::<8>::new_boxed();
    let mut grads = Box::<torch_cnn::NetGrads>::default();
    let mut dlogits = [[0.0f32; 10]; 8];
    let logits = net.forward_train(&x, &mut ws).unwrap();
    let loss = cross_entropy(logits, &targets, &mut dlogits).unwrap();
    let torch_loss = floats("loss")[0];
    assert!(
        (loss - torch_loss).abs() <= 1e-6,
        "loss {loss} against PyTorch's {torch_loss}"
    );
    grads.set_zero();
    net.backward(&x, &mut ws, &dlogits, &mut grads).unwrap();
    Sgd::new(0.1, 0.9).step(&mut *net, &grads);

    let mut writer = StateDictWriter::new();
    writer.add("", &*net).unwrap();
    let ours_bytes = writer.to_bytes().unwrap();
    let ours = SafeTensors::deserialize(&ours_bytes).unwrap();
    let (_, meta) = SafeTensors::read_metadata(&imported.weights).unwrap();
    let meta = meta.metadata().clone().unwrap();
    let mut compared = 0;
    for (key, source) in meta
        .iter()
        .filter_map(|(k, v)| Some((k.strip_prefix("onnx:")?, v)))
    {
        let theirs = format!("after.{source}");
        if step.tensor(&theirs).is_err() {
            assert!(
                source.starts_with('('),
                "{key}: no {theirs} in PyTorch's step"
            );
            continue;
        }
        let t = ours.tensor(key).unwrap();
        let ours_v: Vec<f32> = t
            .data()
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        let worst = ours_v
            .iter()
            .zip(floats(&theirs))
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(
            worst <= 2e-6,
            "{key} ({source}): {worst:e} from PyTorch after the step"
        );
        compared += 1;
    }
    // Conv, BN (with both running statistics), conv, GN, Linear.
    assert_eq!(compared, 12, "{meta:?}");
    assert_eq!(net.layer_1.num_batches_tracked, 1);
}

/// `nn.GRU(12, 32, batch_first=True)` and `fc(out[:, -1])`: PyTorch's
/// export transposes to time first, runs the GRU node from a zero state it
/// builds from the input's shape, squeezes the direction axis, transposes
/// back and gathers the last step. It comes back as `Gru`, `LastStep`,
/// `Linear`, the gates reordered from ONNX's (z, r, h) to PyTorch's.
#[test]
fn gru_classifier_matches_onnx_runtime() {
    let imported = import_both("gru");
    assert!(imported.lib.contains("Gru<12, 32, 10>"), "{}", imported.lib);
    assert!(
        imported.lib.contains("LastStep<[f32; 32], 10>"),
        "{}",
        imported.lib
    );
    let net = torch_gru::from_bytes(&imported.weights).unwrap();
    against_onnx_runtime("gru", &|x| torch_gru::check(&net, x));
}

/// `nn.LSTM(6, 8, num_layers=2, bidirectional=True, batch_first=True)`:
/// two bidirectional LSTM nodes (ONNX's gate order i, o, f, c reordered to
/// PyTorch's i, f, g, o), each a one-layer stack.
#[test]
fn two_layer_bidirectional_lstm_matches_onnx_runtime() {
    let imported = import_both("bilstm");
    assert_eq!(
        imported.lib.matches("bidirectional = true").count(),
        2,
        "{}",
        imported.lib
    );
    let net = torch_bilstm::from_bytes(&imported.weights).unwrap();
    against_onnx_runtime("bilstm", &|x| torch_bilstm::check(&net, x));
}

/// `nn.RNN(5, 7, nonlinearity="relu")` whose final state `h_n[-1]` is
/// read: the layer and its last step.
#[test]
fn relu_rnn_final_state_matches_onnx_runtime() {
    let imported = import_both("rnn");
    assert!(
        imported.lib.contains("Rnn<5, 7, 10, f32, true, ReluFn>"),
        "{}",
        imported.lib
    );
    let net = torch_rnn::from_bytes(&imported.weights).unwrap();
    against_onnx_runtime("rnn", &|x| torch_rnn::check(&net, x));
}

/// Before opset 17 PyTorch writes a layer norm out: `ReduceMean`, `Sub`,
/// `Pow`, `ReduceMean`, `Add`, `Sqrt`, `Div`, `Mul`, `Add`. It comes back
/// as the one layer norm it was.
#[test]
fn written_out_layer_norm_is_one_layer_norm() {
    let imported = import_both("mlp_opset16");
    assert!(
        imported.lib.contains("#[normalize(layer, dims = 16)]"),
        "{}",
        imported.lib
    );
    assert!(imported.lib.contains("`/ln2/Pow`"), "{}", imported.lib);
    let net = torch_mlp_opset16::from_bytes(&imported.weights).unwrap();
    against_onnx_runtime("mlp_opset16", &|x| torch_mlp_opset16::check(&net, x));
}

/// A convolution with `auto_pad = SAME_UPPER` and stride 2 (pads 0 before,
/// 1 after: asymmetric, which PyTorch's `Conv2d` cannot express) becomes a
/// zero-padding layer and the convolution without padding.
#[test]
fn asymmetric_conv_pads_become_a_padding_layer() {
    let options = Options {
        struct_name: "Net".into(),
        batch: 4,
        ..Options::new("conv_same_upper")
    };
    let bytes = std::fs::read(data().join("conv_same_upper.onnx")).unwrap();
    let imported = import(&bytes, &options).unwrap();
    common::snapshot("conv_same_upper", &imported.lib, "conv_same_upper");
    assert!(
        imported
            .lib
            .contains("pub conv_pad: ZeroPad2d<3, 8, 8, 0, 1, 0, 1, 9, 9>,"),
        "{}",
        imported.lib
    );
    assert!(
        imported
            .lib
            .contains("pub conv: conv2d!(3, 4, 3, stride = 2, input = [3, 9, 9]),"),
        "{}",
        imported.lib
    );
    let net = conv_same_upper::from_bytes(&imported.weights).unwrap();
    against_onnx_runtime("conv_same_upper", &|x| conv_same_upper::check(&net, x));
}
