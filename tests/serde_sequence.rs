//! serde (feature `serde`) for the sequence layers: recurrent layers under
//! their cells' PyTorch names, attention and the encoder block as their
//! state dicts (a map from PyTorch's dotted keys to nested arrays), a
//! network holding them deriving `Serialize` and `Deserialize`; every one
//! round-trips bit for bit, and a wrong document is an error naming what is
//! wrong.

use constnorm::nn::{
    GeluFn, Gru, GruCell, LastStep, Linear, LnLstm, LnLstmCell, MaskedBatchNorm, MeanOverSteps,
    MultiheadAttention, Stacked, TransformerEncoderLayer, init_seeded,
};
use constnorm::{StateDict, network};
use serde::{Deserialize, Serialize};

type Block = TransformerEncoderLayer<8, 2, 16, 5, f64, GeluFn, true>;

/// Every array of `a` and `b`, bit for bit.
fn same_state<L: StateDict<Scalar = f64>>(a: &L, b: &L) {
    let mut theirs = Vec::new();
    b.visit_arrays(&mut |k, _, v| theirs.push((k.to_string(), v.to_vec())));
    let mut i = 0;
    a.visit_arrays(&mut |k, _, v| {
        assert_eq!(k.to_string(), theirs[i].0);
        let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(v), bits(&theirs[i].1), "{k}");
        i += 1;
    });
    assert_eq!(i, theirs.len());
}

fn round_trip<L>(layer: &L) -> (L, serde_json::Value)
where
    L: StateDict<Scalar = f64> + Serialize + for<'de> Deserialize<'de>,
{
    let json = serde_json::to_string(layer).unwrap();
    let back: L = serde_json::from_str(&json).unwrap();
    same_state(layer, &back);
    (back, serde_json::from_str(&json).unwrap())
}

#[test]
fn attention_and_the_encoder_block_are_their_state_dicts() {
    let mut mha = MultiheadAttention::<8, 2, 5, f64>::new();
    init_seeded(&mut mha, 1);
    let (_, json) = round_trip(&mha);
    let keys: Vec<&str> = json
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "in_proj_bias",
            "in_proj_weight",
            "out_proj.bias",
            "out_proj.weight"
        ]
    );
    assert_eq!(json["in_proj_weight"].as_array().unwrap().len(), 24);
    assert_eq!(json["in_proj_weight"][0].as_array().unwrap().len(), 8);

    let mut block = Block::new();
    init_seeded(&mut block, 2);
    let (_, json) = round_trip(&block);
    assert_eq!(json.as_object().unwrap().len(), 12);
    assert_eq!(json["norm2.bias"].as_array().unwrap().len(), 8);
    assert_eq!(json["linear1.weight"].as_array().unwrap().len(), 16);
}

#[test]
fn recurrent_layers_round_trip_under_their_cells_names() {
    let mut gru = Gru::<3, 4, 6, f64>::new();
    init_seeded(&mut gru, 3);
    let (_, json) = round_trip(&gru);
    assert_eq!(json["weight_hh"].as_array().unwrap().len(), 12);
    let mut ln = LnLstm::<3, 4, 6, f64>::new();
    init_seeded(&mut ln, 4);
    let (_, json) = round_trip(&ln);
    assert_eq!(json["ln_c.weight"].as_array().unwrap().len(), 4);
}

#[test]
fn stacked_layers_round_trip_under_pytorchs_names() {
    let mut gru = Stacked::<GruCell<3, 4, f64>, GruCell<8, 4, f64>, 6, 2, 1>::default();
    init_seeded(&mut gru, 3);
    let (_, json) = round_trip(&gru);
    assert_eq!(json["weight_hh_l1_reverse"].as_array().unwrap().len(), 12);
    assert_eq!(json.as_object().unwrap().len(), 16);
    let mut ln = Stacked::<LnLstmCell<3, 4, f64>, LnLstmCell<4, 4, f64>, 6, 1, 1>::default();
    init_seeded(&mut ln, 4);
    let (_, json) = round_trip(&ln);
    assert_eq!(json["layers.1.ln_c.weight"].as_array().unwrap().len(), 4);
    // A key of another layer count is an error that names it.
    let mut wrong = json.clone();
    let v = wrong
        .as_object_mut()
        .unwrap()
        .remove("layers.1.ln_c.weight")
        .unwrap();
    wrong["layers.2.ln_c.weight"] = v;
    let err = serde_json::from_value::<
        Stacked<LnLstmCell<3, 4, f64>, LnLstmCell<4, 4, f64>, 6, 1, 1>,
    >(wrong)
    .unwrap_err()
    .to_string();
    assert!(err.contains("layers.2.ln_c.weight"), "{err}");
}

#[test]
fn the_masked_batch_norm_is_its_state_dict() {
    let mut bn = MaskedBatchNorm::<3, 5, f64>::new();
    bn.running_var = [0.5, 1.5, 2.5];
    bn.num_batches_tracked = 7;
    let (back, json) = round_trip(&bn);
    assert_eq!(back.num_batches_tracked, 7);
    assert_eq!(json["num_batches_tracked"], 7);
    assert_eq!(json.as_object().unwrap().len(), 5);
}

#[network]
#[derive(Default, Serialize, Deserialize)]
struct Classifier {
    gru: Gru<8, 8, 5, f64>,
    enc: Block,
    mean: MeanOverSteps<[f64; 8], 5>,
    fc: Linear<8, 2, f64>,
}

#[network]
#[derive(Default, Serialize, Deserialize)]
struct Last {
    gru: Gru<8, 8, 5, f64>,
    last: LastStep<[f64; 8], 5>,
}

#[test]
fn a_network_of_sequence_layers_derives_serde() {
    let mut net = Classifier::default();
    init_seeded(&mut net, 5);
    let json = serde_json::to_string(&net).unwrap();
    let back: Classifier = serde_json::from_str(&json).unwrap();
    same_state(&net, &back);
    let doc: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert!(doc["enc"]["self_attn.in_proj_weight"].is_array());
    let last: Last =
        serde_json::from_str(&serde_json::to_string(&Last::default()).unwrap()).unwrap();
    assert_eq!(last.gru.cell.weight_ih, [[[0.0; 8]; 8]; 3]);
}

#[test]
fn wrong_state_dicts_are_errors_that_name_the_key() {
    let mha = MultiheadAttention::<8, 2, 5, f64>::new();
    let good: serde_json::Value = serde_json::to_value(&mha).unwrap();
    let err = |doc: &serde_json::Value| {
        serde_json::from_value::<MultiheadAttention<8, 2, 5, f64>>(doc.clone())
            .unwrap_err()
            .to_string()
    };

    let mut missing = good.clone();
    missing.as_object_mut().unwrap().remove("out_proj.bias");
    assert!(
        err(&missing).contains("missing key `out_proj.bias`"),
        "{}",
        err(&missing)
    );

    let mut unknown = good.clone();
    unknown["out_proj.gain"] = serde_json::json!([1.0]);
    assert!(
        err(&unknown).contains("unknown key `out_proj.gain`"),
        "{}",
        err(&unknown)
    );

    let mut short = good.clone();
    short["in_proj_bias"] = serde_json::json!(vec![0.0; 23]);
    assert!(err(&short).contains("invalid length"), "{}", err(&short));

    let text = serde_json::to_string(&good).unwrap();
    let duplicate = text.replacen(
        '{',
        "{\"in_proj_bias\":[0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0],",
        1,
    );
    let e = serde_json::from_str::<MultiheadAttention<8, 2, 5, f64>>(&duplicate)
        .unwrap_err()
        .to_string();
    assert!(e.contains("duplicate key `in_proj_bias`"), "{e}");

    let e = serde_json::from_str::<MultiheadAttention<8, 2, 5, f64>>("{}")
        .unwrap_err()
        .to_string();
    assert!(e.contains("missing key"), "{e}");
}
