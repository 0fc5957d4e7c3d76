//! What the importer refuses, it names: every node at once with its
//! operator and reason, a file that is not ONNX as a decode error naming
//! the field, and never a panic, also on mutated files (proptest). The
//! models are built here with the crate's own protobuf messages.

use constnorm_onnx::proto::{
    AttributeProto, Dimension, GraphProto, ModelProto, NodeProto, OperatorSetIdProto, TensorProto,
    TensorShapeProto, TypeProto, TypeProtoTensor, ValueInfoProto,
};
use constnorm_onnx::{ImportError, Options, import};
use proptest::prelude::*;
use prost::Message;

fn value(name: &str, dims: &[i64]) -> ValueInfoProto {
    ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto {
            tensor_type: Some(TypeProtoTensor {
                elem_type: 1,
                shape: Some(TensorShapeProto {
                    dim: dims
                        .iter()
                        .map(|&d| Dimension {
                            dim_value: (d > 0).then_some(d),
                            dim_param: (d <= 0).then(|| "batch".to_string()),
                        })
                        .collect(),
                }),
            }),
        }),
    }
}

fn node(op: &str, name: &str, inputs: &[&str], output: &str) -> NodeProto {
    NodeProto {
        input: inputs.iter().map(ToString::to_string).collect(),
        output: vec![output.into()],
        name: name.into(),
        op_type: op.into(),
        ..NodeProto::default()
    }
}

fn floats(name: &str, dims: &[i64], values: Vec<f32>) -> TensorProto {
    TensorProto {
        dims: dims.to_vec(),
        data_type: 1,
        float_data: values,
        name: name.into(),
        ..TensorProto::default()
    }
}

fn int_attr(name: &str, i: i64) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        i,
        r#type: 2,
        ..AttributeProto::default()
    }
}

fn model(
    nodes: Vec<NodeProto>,
    initializers: Vec<TensorProto>,
    input: &[i64],
    output: &str,
) -> Vec<u8> {
    ModelProto {
        ir_version: 8,
        opset_import: vec![OperatorSetIdProto {
            domain: String::new(),
            version: 17,
        }],
        producer_name: "constnorm-onnx tests".into(),
        graph: Some(GraphProto {
            node: nodes,
            name: "g".into(),
            initializer: initializers,
            input: vec![value("x", input)],
            output: vec![value(output, &[])],
            ..GraphProto::default()
        }),
        ..ModelProto::default()
    }
    .encode_to_vec()
}

fn refusals(bytes: &[u8]) -> Vec<(String, String, String)> {
    match import(bytes, &Options::new("t")) {
        Err(ImportError::Unsupported(r)) => {
            r.into_iter().map(|r| (r.node, r.op, r.reason)).collect()
        }
        Err(e) => panic!("expected refusals, got {e}"),
        Ok(_) => panic!("expected refusals, got a network"),
    }
}

/// A small MLP that maps: Gemm, Relu, Gemm, Softmax.
fn mlp() -> Vec<u8> {
    let mut g1 = node("Gemm", "/fc1/Gemm", &["x", "fc1.weight", "fc1.bias"], "h");
    g1.attribute.push(int_attr("transB", 1));
    let mut g2 = node("Gemm", "/fc2/Gemm", &["r", "fc2.weight", "fc2.bias"], "z");
    g2.attribute.push(int_attr("transB", 1));
    model(
        vec![
            g1,
            node("Relu", "/relu/Relu", &["h"], "r"),
            g2,
            node("Softmax", "/softmax/Softmax", &["z"], "y"),
        ],
        vec![
            floats(
                "fc1.weight",
                &[3, 4],
                (0..12).map(|i| i as f32 / 10.0).collect(),
            ),
            floats("fc1.bias", &[3], vec![0.1, -0.2, 0.3]),
            floats("fc2.weight", &[2, 3], vec![1.0, -1.0, 0.5, 0.25, 2.0, -0.5]),
            floats("fc2.bias", &[2], vec![0.0, 1.0]),
        ],
        &[0, 4],
        "y",
    )
}

#[test]
fn a_model_that_maps_imports() {
    let imported = import(&mlp(), &Options::new("mlp")).unwrap();
    assert_eq!(imported.layers, 4);
    assert!(
        imported.lib.contains("pub fc1: Linear<4, 3>,"),
        "{}",
        imported.lib
    );
    assert!(
        imported.lib.contains("pub softmax: Softmax<2>,"),
        "{}",
        imported.lib
    );
}

#[test]
fn every_unmapped_node_is_named_at_once() {
    // Two unsupported operators on one path, in different places, and a
    // clamp that is not ReLU6: all three named, with their reasons.
    let clip = {
        let mut n = node("Clip", "clamp", &["a", "lo", "hi"], "b");
        n.input = vec!["a".into(), "lo".into(), "hi".into()];
        n
    };
    let bytes = model(
        vec![
            node("Erf", "erf_node", &["x"], "a"),
            clip,
            node("Relu", "relu", &["b"], "c"),
            node("Celu", "celu_node", &["c"], "y"),
        ],
        vec![floats("lo", &[], vec![-1.0]), floats("hi", &[], vec![1.0])],
        &[0, 4],
        "y",
    );
    let r = refusals(&bytes);
    assert_eq!(r[0].0, "erf_node");
    assert_eq!(r[0].1, "Erf");
    assert!(r[0].2.contains("operator Erf is not mapped"), "{r:?}");
    // After a refusal the path is not examined further, and says so.
    assert!(
        r.iter()
            .any(|(n, _, why)| n == "(graph)" && why.contains("3 node(s) after")),
        "{r:?}"
    );
}

#[test]
fn each_refusal_has_its_own_reason() {
    let cases: Vec<(Vec<NodeProto>, Vec<TensorProto>, &str)> = vec![
        (
            vec![{
                let mut n = node("Clip", "clamp", &["x", "lo", "hi"], "y");
                n.input = vec!["x".into(), "lo".into(), "hi".into()];
                n
            }],
            vec![floats("lo", &[], vec![-1.0]), floats("hi", &[], vec![1.0])],
            "a clamp to [Some(-1.0), Some(1.0)]",
        ),
        (
            vec![{
                let mut n = node("HardSigmoid", "hs", &["x"], "y");
                n.attribute.push(AttributeProto {
                    name: "alpha".into(),
                    f: 0.3,
                    r#type: 1,
                    ..AttributeProto::default()
                });
                n
            }],
            vec![],
            "hard sigmoid with alpha 0.3",
        ),
        (
            vec![{
                let mut n = node("Gemm", "gemm", &["x", "w"], "y");
                n.attribute.push(int_attr("transA", 1));
                n
            }],
            vec![floats("w", &[4, 2], vec![0.0; 8])],
            "transA",
        ),
        (
            vec![node("MatMul", "mm", &["x", "x"], "y")],
            vec![],
            "reads 2 data inputs",
        ),
        (vec![node("Softmax", "sm", &["x"], "y")], vec![], ""),
    ];
    for (nodes, inits, why) in cases {
        let name = nodes[0].name.clone();
        let bytes = model(nodes, inits, &[0, 4], "y");
        if why.is_empty() {
            // Softmax over a flat vector maps.
            import(&bytes, &Options::new("t")).unwrap();
            continue;
        }
        let r = refusals(&bytes);
        assert_eq!(r[0].0, name);
        assert!(r[0].2.contains(why), "{name}: {r:?}");
    }
}

#[test]
fn a_branch_that_is_neither_residual_nor_gate_is_refused() {
    // y = relu(x) - x: a fork joined by Sub.
    let bytes = model(
        vec![
            node("Relu", "r", &["x"], "a"),
            node("Sub", "sub", &["a", "x"], "y"),
        ],
        vec![],
        &[0, 4],
        "y",
    );
    let r = refusals(&bytes);
    assert!(
        r.iter()
            .any(|(_, op, why)| op == "Relu" && why.contains("never join")),
        "{r:?}"
    );
    // y = x * relu(x): a Mul that is no squeeze-and-excitation gate.
    let bytes = model(
        vec![
            node("Relu", "r", &["x"], "a"),
            node("Mul", "mul", &["x", "a"], "y"),
        ],
        vec![],
        &[0, 4],
        "y",
    );
    let r = refusals(&bytes);
    assert!(
        r.iter()
            .any(|(n, _, why)| n == "mul" && why.contains("neither a residual")),
        "{r:?}"
    );
}

#[test]
fn open_dimensions_and_second_inputs_are_named() {
    let bytes = model(vec![node("Relu", "r", &["x"], "y")], vec![], &[0, 0], "y");
    let r = refusals(&bytes);
    assert!(r[0].2.contains("--input x=DIMS"), "{r:?}");
    let mut two = ModelProto::decode(mlp().as_slice()).unwrap();
    two.graph
        .as_mut()
        .unwrap()
        .input
        .push(value("state", &[0, 4]));
    let r = refusals(&two.encode_to_vec());
    assert!(
        r[0].2.contains("one data input") && r[0].2.contains("state"),
        "{r:?}"
    );
}

#[test]
fn a_file_that_is_not_onnx_is_a_decode_error() {
    for bytes in [
        &b"\x08\x96\x01\x12\x07testing"[..],
        b"PK\x03\x04 not a model",
        &[0xff; 16],
    ] {
        match import(bytes, &Options::new("t")) {
            Err(ImportError::Decode(_) | ImportError::Model(_)) => {}
            other => panic!("{:?}", other.map(|i| i.layers)),
        }
    }
    // A tensor whose data does not fill its dimensions names the tensor.
    let mut m = ModelProto::decode(mlp().as_slice()).unwrap();
    m.graph.as_mut().unwrap().initializer[0].float_data.pop();
    let e = import(&m.encode_to_vec(), &Options::new("t"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("fc1.weight") && e.contains("11 values"), "{e}");
    // No graph.
    let e = import(
        &ModelProto {
            opset_import: vec![OperatorSetIdProto::default()],
            ..ModelProto::default()
        }
        .encode_to_vec(),
        &Options::new("t"),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("no graph"), "{e}");
}

/// `y = If(cond, relu(x), sigmoid(x))`: an `If` node whose branches are
/// one node each.
fn relu_or_sigmoid(cond: &str) -> NodeProto {
    let branch = |op: &str, out: &str| GraphProto {
        node: vec![node(op, &format!("{op}_in_branch"), &["x"], out)],
        name: op.into(),
        output: vec![value(out, &[])],
        ..GraphProto::default()
    };
    let mut iff = node("If", "if", &[cond], "y");
    for (name, g) in [
        ("then_branch", branch("Relu", "a")),
        ("else_branch", branch("Sigmoid", "b")),
    ] {
        iff.attribute.push(AttributeProto {
            name: name.into(),
            g: Some(g),
            r#type: 5,
            ..AttributeProto::default()
        });
    }
    iff
}

/// `y = If(sr == 16000, relu(x), sigmoid(x))` with `sr` a scalar input:
/// refused as a second input until `--input sr=VALUE` fixes it; then the
/// `If` is resolved to the branch that value takes.
#[test]
fn an_if_on_a_scalar_input_is_resolved_by_its_value() {
    let iff = relu_or_sigmoid("is16k");
    let mut m = ModelProto::decode(
        model(
            vec![node("Equal", "eq", &["sr", "k16000"], "is16k"), iff],
            vec![TensorProto {
                dims: vec![],
                data_type: 7,
                int64_data: vec![16000],
                name: "k16000".into(),
                ..TensorProto::default()
            }],
            &[0, 4],
            "y",
        )
        .as_slice(),
    )
    .unwrap();
    let mut sr = value("sr", &[]);
    sr.r#type
        .as_mut()
        .unwrap()
        .tensor_type
        .as_mut()
        .unwrap()
        .elem_type = 7;
    sr.r#type
        .as_mut()
        .unwrap()
        .tensor_type
        .as_mut()
        .unwrap()
        .shape = Some(TensorShapeProto::default());
    m.graph.as_mut().unwrap().input.push(sr);
    let bytes = m.encode_to_vec();
    let r = refusals(&bytes);
    assert!(
        r[0].2.contains("\"sr\"") && r[0].2.contains("--input NAME=VALUE"),
        "{r:?}"
    );
    let with = |rate: usize| {
        let mut options = Options::new("t");
        options.inputs.push(("sr".into(), vec![rate]));
        import(&bytes, &options).unwrap().lib
    };
    assert!(with(16000).contains("Relu<4>"), "{}", with(16000));
    assert!(with(8000).contains("Sigmoid<4>"), "{}", with(8000));
}

fn ints_attr(name: &str, v: &[i64]) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        ints: v.to_vec(),
        r#type: 7,
        ..AttributeProto::default()
    }
}

fn int64s(name: &str, dims: &[i64], values: Vec<i64>) -> TensorProto {
    TensorProto {
        dims: dims.to_vec(),
        data_type: 7,
        int64_data: values,
        name: name.into(),
        ..TensorProto::default()
    }
}

/// The batch read back through `Shape` is only ever a placeholder: an `If`
/// on whether the batch is 1 is not resolved with it (that would pick a
/// branch for every batch), and stays, refused.
#[test]
fn the_batch_is_never_computed_with() {
    let mut gather = node("Gather", "batch", &["shape", "zero"], "n");
    gather.attribute.push(int_attr("axis", 0));
    let iff = relu_or_sigmoid("is1");
    let bytes = model(
        vec![
            node("Shape", "shape", &["x"], "shape"),
            gather,
            node("Equal", "eq", &["n", "one"], "is1"),
            iff,
        ],
        vec![int64s("zero", &[], vec![0]), int64s("one", &[], vec![1])],
        &[0, 4],
        "y",
    );
    let r = refusals(&bytes);
    assert!(
        r.iter()
            .any(|(n, op, _)| n == "if" || op == "Equal" || op == "If"),
        "{r:?}"
    );
}

/// `x[:, [-1]]` (an index of shape [1]) keeps the time axis: not the last
/// step (which `x[:, -1]`, a scalar index, is).
#[test]
fn a_gather_that_keeps_its_axis_is_not_the_last_step() {
    let mut g = node("Gather", "gather", &["x", "last"], "y");
    g.attribute.push(int_attr("axis", 1));
    let kept = model(
        vec![g.clone()],
        vec![int64s("last", &[1], vec![-1])],
        &[0, 6, 4],
        "y",
    );
    let r = refusals(&kept);
    assert!(r[0].2.contains("only the last step"), "{r:?}");
    let scalar = model(
        vec![g],
        vec![int64s("last", &[], vec![-1])],
        &[0, 6, 4],
        "y",
    );
    let imported = import(&scalar, &Options::new("t")).unwrap();
    assert!(
        imported.lib.contains("LastStep<[f32; 4], 6>"),
        "{}",
        imported.lib
    );
}

/// A residual block whose shortcut is itself a residual block keeps it
/// (nested in a chain under `#[shortcut]`), where it was once dropped.
#[test]
fn a_residual_shortcut_is_kept() {
    let gemm = |name: &str, inp: &str, w: &str, out: &str| {
        let mut n = node("Gemm", name, &[inp, w, &format!("{w}_b")], out);
        n.attribute.push(int_attr("transB", 1));
        n
    };
    let nodes = vec![
        node("Identity", "id", &["x"], "r"),
        gemm("/inner/fc/Gemm", "r", "w1", "g"),
        node("Add", "/inner/Add", &["r", "g"], "t"),
        gemm("/body/fc1/Gemm", "x", "w2", "u1"),
        node("Relu", "/body/relu/Relu", &["u1"], "u2"),
        gemm("/body/fc2/Gemm", "u2", "w3", "u3"),
        node("Add", "/outer/Add", &["u3", "t"], "y"),
    ];
    let mut inits = Vec::new();
    for w in ["w1", "w2", "w3"] {
        inits.push(floats(w, &[4, 4], vec![0.1; 16]));
        inits.push(floats(&format!("{w}_b"), &[4], vec![0.0; 4]));
    }
    let imported = import(&model(nodes, inits, &[0, 4], "y"), &Options::new("t")).unwrap();
    assert!(
        imported.lib.contains("#[shortcut]\n    #[nested]"),
        "{}",
        imported.lib
    );
    assert!(
        imported.lib.matches("#[network(residual)]").count() == 2,
        "{}",
        imported.lib
    );
}

/// A batch norm whose module is called `linear` is a struct that must not
/// be named `Linear`, the layer the source imports.
#[test]
fn generated_type_names_never_shadow_imports() {
    let mut bn = node(
        "BatchNormalization",
        "/linear/BatchNormalization",
        &["h", "s", "b", "m", "v"],
        "y",
    );
    bn.attribute.push(AttributeProto {
        name: "epsilon".into(),
        f: 1e-5,
        r#type: 1,
        ..AttributeProto::default()
    });
    let mut fc = node("Gemm", "/fc/Gemm", &["x", "w", "wb"], "h");
    fc.attribute.push(int_attr("transB", 1));
    let c4 = |name: &str, v: f32| floats(name, &[4], vec![v; 4]);
    let bytes = model(
        vec![fc, bn],
        vec![
            floats("w", &[4, 4], vec![0.5; 16]),
            c4("wb", 0.0),
            c4("s", 1.0),
            c4("b", 0.0),
            c4("m", 0.0),
            c4("v", 1.0),
        ],
        &[0, 4],
        "y",
    );
    let lib = import(&bytes, &Options::new("t")).unwrap().lib;
    assert!(lib.contains("pub fc: Linear<4, 4>,"), "{lib}");
    assert!(
        lib.contains("pub struct Linear2;") && lib.contains("pub linear: Linear2,"),
        "{lib}"
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// One node of a shape-sensitive operator with arbitrary attributes and
    /// weight shapes (zeros, negatives, lengths that do not match the
    /// rank): an import or an error, never a panic.
    #[test]
    fn odd_attributes_never_panic(
        op in prop::sample::select(vec!["Conv", "MaxPool", "AveragePool", "Pad", "Slice", "Concat", "ConstantOfShape", "Gemm", "Reshape", "Flatten", "Softmax", "GlobalAveragePool", "Gather", "Transpose", "LSTM", "GRU"]),
        dims in prop::collection::vec(1i64..5, 1..4),
        attr in prop::collection::vec(-2i64..6, 0..5),
        which in 0usize..6,
        wdims in prop::collection::vec(0i64..4, 0..5),
        consts in prop::collection::vec(-3i64..6, 0..5),
    ) {
        let names = ["kernel_shape", "strides", "pads", "dilations", "perm", "axes"];
        let mut n = node(op, "n", &["x", "w", "c"], "y");
        n.attribute.push(ints_attr(names[which], &attr));
        n.attribute.push(ints_attr("kernel_shape", &attr.iter().map(|a| a.abs()).collect::<Vec<_>>()));
        n.attribute.push(int_attr("group", attr.first().copied().unwrap_or(1)));
        n.attribute.push(int_attr("hidden_size", attr.last().copied().unwrap_or(1)));
        n.attribute.push(int_attr("axis", attr.get(1).copied().unwrap_or(1)));
        let count: i64 = wdims.iter().product();
        let w = floats("w", &wdims, vec![0.5; usize::try_from(count).unwrap_or(0)]);
        let c = int64s("c", &[i64::try_from(consts.len()).unwrap_or(0)], consts);
        let mut input = vec![0];
        input.extend(dims);
        let _ = import(&model(vec![n], vec![w, c], &input, "y"), &Options::new("t"));
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Flipped, cut and inserted bytes of a real model (KWS) and of the
    /// MLP: an import or an error, never a panic.
    #[test]
    fn mutated_files_never_panic(
        which in 0..2usize,
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        cut in any::<prop::sample::Index>(),
        truncate in any::<bool>(),
    ) {
        let mut bytes = if which == 0 {
            std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../benches/data/mlperf_tiny/kws.onnx")).unwrap()
        } else {
            mlp()
        };
        for (at, byte) in flips {
            let i = at.index(bytes.len());
            bytes[i] = byte;
        }
        if truncate {
            bytes.truncate(cut.index(bytes.len()));
        }
        let _ = import(&bytes, &Options::new("t"));
    }
}
