//! Every loading path is strict and atomic: each bad input below, tried on
//! each layer type, through serde (JSON) and through safetensors, is an
//! error whose message names the field, and the layer is left bit for bit
//! unchanged (safetensors loads in place; serde builds a new layer, so the
//! one the caller holds is kept).
//!
//! Bad inputs: a NaN or an infinity in a parameter, a NaN or a negative
//! running variance, a negative `num_batches_tracked`, a wrong shape, a
//! missing key, an unexpected key.

use constnorm::nn::{
    Embedding, GeluFn, Gru, Linear, MultiheadAttention, Relu, TransformerEncoderLayer, init_seeded,
};
use constnorm::safetensors::{LoadOptions, StateDictFile, StateDictWriter};
use constnorm::{StateDict, conv2d, network, normalize};
use safetensors::tensor::{Dtype, TensorView};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

#[normalize(batch, dims = 3)]
struct Bn;

#[normalize(batch, dims = 2, spatial = [2, 2])]
struct Bn2d;

#[normalize(layer, dims = 4)]
struct Ln;

#[normalize(instance, dims = 2, spatial = 3, track_running_stats = true)]
struct In1d;

type Conv = conv2d!(1, 2, 3, padding = 1, input = [1, 4, 4]);

#[network]
#[derive(Default, Serialize, serde::Deserialize)]
struct Net {
    fc: Linear<3, 3>,
    bn: Bn,
    act: Relu<3>,
}

/// The state dict as bits, by key.
fn state<L: StateDict<Scalar = f32>>(l: &L) -> Vec<(String, Vec<u64>)> {
    let mut out = Vec::new();
    l.visit_arrays(&mut |k, _, v| {
        out.push((
            k.to_string(),
            v.iter().map(|x| u64::from(x.to_bits())).collect(),
        ))
    });
    l.visit_counters(&mut |k, n| out.push((k.to_string(), vec![n])));
    out
}

/// A bad input: what it does to a tensor (by key), and what the error must
/// say.
#[derive(Clone, Copy, Debug)]
enum Bad {
    /// The first value of an array is NaN (safetensors) / does not fit the
    /// type (JSON has no NaN, and serde_json's text parser refuses 1e39 for
    /// an f32 by itself, so the serde case reads a `serde_json::Value`, where
    /// 1e39 becomes an f32 infinity, as other formats would give).
    NonFinite,
    /// The first value of a running variance is -1.
    NegativeVariance,
    /// `num_batches_tracked` is -1.
    NegativeCount,
    /// One value too few.
    Shape,
    /// The key is gone.
    Missing,
    /// A key the layer does not have, beside the others.
    Unexpected,
}

/// What the message must contain for `bad` on `key` (its last name for
/// serde's struct fields, the whole dotted key otherwise).
fn expected_text(bad: Bad, key: &str) -> Vec<String> {
    match bad {
        Bad::NonFinite => vec![format!("{key}` has a NaN or infinite value at index 0")],
        Bad::NegativeVariance => vec![format!("{key}` has a negative variance at index 0")],
        Bad::NegativeCount => vec![format!("{key}`"), "negative".into()],
        Bad::Shape => vec![format!("{key}`")],
        Bad::Missing => vec![format!("{key}`"), "missing".into()],
        Bad::Unexpected => vec!["bogus".into()],
    }
}

// ---- safetensors ----

/// The tensors of a layer as owned `(key, dtype, shape, bytes)`.
type Tensors = Vec<(String, Dtype, Vec<usize>, Vec<u8>)>;

fn tensors<L: StateDict<Scalar = f32>>(layer: &L) -> Tensors {
    let mut w = StateDictWriter::new();
    w.add("", layer).unwrap();
    let bytes = w.to_bytes().unwrap();
    let file = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let mut out: Tensors = file
        .tensors()
        .into_iter()
        .map(|(k, v)| (k, v.dtype(), v.shape().to_vec(), v.data().to_vec()))
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn to_file(t: &Tensors) -> Vec<u8> {
    let views: Vec<(String, TensorView<'_>)> = t
        .iter()
        .map(|(k, d, s, b)| (k.clone(), TensorView::new(*d, s.clone(), b).unwrap()))
        .collect();
    safetensors::serialize(views, None).unwrap()
}

/// `bad` applied to tensor `key` of a valid file of `layer`.
fn corrupt_file<L: StateDict<Scalar = f32>>(layer: &L, key: &str, bad: Bad) -> Vec<u8> {
    let mut t = tensors(layer);
    let i = t
        .iter()
        .position(|e| e.0 == key)
        .unwrap_or_else(|| panic!("no {key}"));
    match bad {
        Bad::NonFinite => t[i].3[..4].copy_from_slice(&f32::NAN.to_le_bytes()),
        Bad::NegativeVariance => t[i].3[..4].copy_from_slice(&(-1.0_f32).to_le_bytes()),
        Bad::NegativeCount => t[i].3 = (-1_i64).to_le_bytes().to_vec(),
        Bad::Shape => {
            let n = t[i].3.len() - 4;
            t[i].3.truncate(n);
            t[i].2 = vec![t[i].2.iter().product::<usize>() - 1];
        }
        Bad::Missing => {
            t.remove(i);
        }
        Bad::Unexpected => {
            let mut extra = t[i].clone();
            extra.0 = format!("{key}.bogus");
            t.push(extra);
        }
    }
    to_file(&t)
}

// ---- serde ----

/// The JSON node of `key`: a field of the object, or (dotted) a field of a
/// nested object.
fn node<'v>(v: &'v mut Value, key: &str) -> Option<&'v mut Value> {
    let obj = v.as_object_mut()?;
    if obj.contains_key(key) {
        return obj.get_mut(key);
    }
    let (head, rest) = key.split_once('.')?;
    node(obj.get_mut(head)?, rest)
}

/// The object holding `key` and `key`'s last name.
fn parent<'v>(v: &'v mut Value, key: &str) -> (&'v mut serde_json::Map<String, Value>, String) {
    if v.as_object().unwrap().contains_key(key) {
        return (v.as_object_mut().unwrap(), key.to_string());
    }
    let (head, rest) = key.split_once('.').unwrap();
    parent(v.as_object_mut().unwrap().get_mut(head).unwrap(), rest)
}

/// The first number of a nested array.
fn first_number(v: &mut Value) -> &mut Value {
    match v {
        Value::Array(a) => first_number(&mut a[0]),
        n => n,
    }
}

/// The innermost array of a nested array.
fn last_array(v: &mut Value) -> &mut Vec<Value> {
    let Value::Array(a) = v else {
        panic!("not an array")
    };
    if a.last().is_some_and(Value::is_array) {
        return last_array(a.last_mut().unwrap());
    }
    a
}

/// `bad` applied to field `key` of `layer` as JSON, and the field's name
/// there: the state-dict key, or for a recurrent layer's own fields its
/// name without PyTorch's layer suffix (`weight_ih` for `weight_ih_l0`).
fn corrupt_json<L: Serialize>(layer: &L, key: &str, bad: Bad) -> (Value, String) {
    let mut v = serde_json::to_value(layer).unwrap();
    let v0 = v.to_string();
    let key = if node(&mut v, key).is_some() {
        key
    } else {
        key.trim_end_matches("_l0")
    };
    match bad {
        Bad::NonFinite => {
            *first_number(node(&mut v, key).unwrap_or_else(|| panic!("no {key} in {v0}"))) =
                serde_json::from_str("1e39").unwrap();
        }
        Bad::NegativeVariance => {
            *first_number(node(&mut v, key).unwrap_or_else(|| panic!("no {key} in {v0}"))) =
                (-1.0).into()
        }
        Bad::NegativeCount => {
            *node(&mut v, key).unwrap_or_else(|| panic!("no {key} in {v0}")) = (-1).into()
        }
        Bad::Shape => {
            last_array(node(&mut v, key).unwrap_or_else(|| panic!("no {key} in {v0}"))).pop();
        }
        Bad::Missing => {
            let (obj, name) = parent(&mut v, key);
            obj.remove(&name);
        }
        Bad::Unexpected => {
            let (obj, name) = parent(&mut v, key);
            let copy = obj[&name].clone();
            obj.insert("bogus".into(), copy);
        }
    }
    (v, key.to_string())
}

/// Tries every `(key, bad)` on `layer` through both loaders.
fn check<L>(what: &str, layer: &mut L, cases: &[(&str, Bad)], report: &mut Vec<String>)
where
    L: StateDict<Scalar = f32> + Serialize + DeserializeOwned,
{
    for &(key, bad) in cases {
        let before = state(layer);
        // safetensors, in place.
        let bytes = corrupt_file(layer, key, bad);
        let err = StateDictFile::parse(&bytes)
            .unwrap()
            .load("", layer, LoadOptions::default())
            .expect_err(&format!("{what} {key} {bad:?}: safetensors loaded"))
            .to_string();
        for text in expected_text(bad, key) {
            assert!(
                err.contains(&text),
                "{what} {key} {bad:?} safetensors: {err:?} lacks {text:?}"
            );
        }
        assert_eq!(
            before,
            state(layer),
            "{what} {key} {bad:?}: safetensors wrote"
        );
        report.push(format!(
            "| {what} | `{key}` | {bad:?} | safetensors | {err} |"
        ));

        // serde: the caller keeps its layer unless the new one is whole.
        let (json, key) = corrupt_json(layer, key, bad);
        let key = key.as_str();
        let err = match serde_json::from_value::<L>(json) {
            Ok(new) => {
                *layer = new;
                panic!("{what} {key} {bad:?}: serde loaded")
            }
            Err(e) => e.to_string(),
        };
        let name = key.rsplit('.').next().unwrap();
        let name = if err.contains(key) { key } else { name };
        for text in expected_text(bad, name) {
            assert!(
                err.contains(&text),
                "{what} {key} {bad:?} serde: {err:?} lacks {text:?}"
            );
        }
        assert_eq!(before, state(layer));
        report.push(format!("| {what} | `{key}` | {bad:?} | serde | {err} |"));
    }
}

/// Every bad input that applies to an array that is not a running variance.
fn for_array(key: &str) -> [(&str, Bad); 4] {
    [
        (key, Bad::NonFinite),
        (key, Bad::Shape),
        (key, Bad::Missing),
        (key, Bad::Unexpected),
    ]
}

/// The bad inputs of a layer with running statistics, under `prefix`.
fn with_running(p: &str) -> Vec<(String, Bad)> {
    let k = |n: &str| {
        if p.is_empty() {
            n.to_string()
        } else {
            format!("{p}.{n}")
        }
    };
    let mut v = vec![];
    for name in ["weight", "bias", "running_mean"] {
        v.extend(for_array(&k(name)).map(|(a, b)| (a.to_string(), b)));
    }
    let var = k("running_var");
    v.extend([
        (var.clone(), Bad::NonFinite),
        (var.clone(), Bad::NegativeVariance),
        (var.clone(), Bad::Shape),
        (var.clone(), Bad::Missing),
    ]);
    let n = k("num_batches_tracked");
    v.extend([(n.clone(), Bad::NegativeCount), (n, Bad::Missing)]);
    v
}

fn run<L>(what: &str, layer: &mut L, cases: &[(String, Bad)], report: &mut Vec<String>)
where
    L: StateDict<Scalar = f32> + Serialize + DeserializeOwned,
{
    let cases: Vec<(&str, Bad)> = cases.iter().map(|(k, b)| (k.as_str(), *b)).collect();
    check(what, layer, &cases, report);
}

fn arrays(keys: &[&str]) -> Vec<(String, Bad)> {
    keys.iter()
        .flat_map(|k| for_array(k).map(|(a, b)| (a.to_string(), b)))
        .collect()
}

/// Away from the defaults, so "unchanged" is not "still the default".
fn trained<L: StateDict<Scalar = f32>>(mut layer: L) -> L {
    let mut i = 0_u32;
    layer.visit_arrays_mut(&mut |_, _, v| {
        for x in v {
            i += 1;
            *x = 0.5 + (i % 7) as f32 * 0.125;
        }
    });
    layer.visit_counters_mut(&mut |_, n| *n = 3);
    layer
}

#[test]
fn every_bad_input_on_every_layer_is_refused_by_name_and_changes_nothing() {
    let mut report = Vec::new();
    run(
        "BatchNorm1d",
        &mut trained(Bn::new()),
        &with_running(""),
        &mut report,
    );
    run(
        "BatchNorm2d",
        &mut trained(Bn2d::new()),
        &with_running(""),
        &mut report,
    );
    run(
        "LayerNorm",
        &mut trained(Ln::new()),
        &arrays(&["weight", "bias"]),
        &mut report,
    );
    run(
        "InstanceNorm1d(track)",
        &mut trained(In1d::new()),
        &{
            // PyTorch's default: no affine parameters.
            let mut v = arrays(&["running_mean"]);
            v.extend([
                ("running_var".into(), Bad::NegativeVariance),
                ("running_var".into(), Bad::NonFinite),
            ]);
            v
        },
        &mut report,
    );
    run(
        "Linear",
        &mut trained(Linear::<3, 2>::new()),
        &arrays(&["weight", "bias"]),
        &mut report,
    );
    run(
        "Conv2d",
        &mut trained(Conv::new()),
        &arrays(&["weight", "bias"]),
        &mut report,
    );
    let mut gru = Gru::<3, 4, 2>::new();
    init_seeded(&mut gru, 1);
    run(
        "GRU",
        &mut gru,
        &arrays(&["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"]),
        &mut report,
    );
    let mut mha = MultiheadAttention::<4, 2, 3>::new();
    init_seeded(&mut mha, 2);
    run(
        "MultiheadAttention",
        &mut mha,
        &arrays(&[
            "in_proj_weight",
            "in_proj_bias",
            "out_proj.weight",
            "out_proj.bias",
        ]),
        &mut report,
    );
    let mut block = TransformerEncoderLayer::<4, 2, 8, 3, f32, GeluFn, true>::new();
    init_seeded(&mut block, 3);
    run(
        "TransformerEncoderLayer",
        &mut block,
        &arrays(&[
            "self_attn.in_proj_weight",
            "linear1.weight",
            "norm1.weight",
            "norm2.bias",
        ]),
        &mut report,
    );
    let mut emb = Embedding::<5, 3>::new();
    init_seeded(&mut emb, 4);
    run("Embedding", &mut emb, &arrays(&["weight"]), &mut report);
    let mut net = Net::default();
    init_seeded(&mut net, 5);
    net.bn = trained(Bn::new());
    let mut cases = with_running("bn");
    cases.extend(arrays(&["fc.weight"]));
    run("#[network]", &mut net, &cases, &mut report);
    if std::env::var_os("LOADERS_REPORT").is_some() {
        println!("{}", report.join("\n"));
    }
}
