//! serde (feature `serde`): generated layers round-trip through JSON bit for
//! bit, with PyTorch's field names and nested arrays in the parameters'
//! shapes, and a wrong document is an error naming what is wrong.

use constnorm::{Normalization, Row, normalize};

#[normalize(layer, dims = [2, 3])]
struct Ln2d;

#[normalize(layer, dims = 768, dtype = f64)]
struct LnWide;

#[normalize(layer, dims = 4, affine = false)]
struct LnBare;

#[normalize(batch, dims = 3, spatial = 2, momentum = none)]
struct Bn;

#[normalize(rms, dims = 5)]
struct Rms;

#[normalize(group, dims = 4, groups = 2)]
struct Gn;

#[normalize(
    instance,
    dims = 2,
    spatial = 3,
    affine = true,
    track_running_stats = true
)]
struct In1d;

/// Trains a layer for two steps so its state is not the default.
fn trained<L: Normalization + Default>() -> L {
    let mut layer = L::default();
    let x: Vec<L::Row> = (0..3)
        .map(|r| {
            let mut row = L::Row::ZERO;
            for (i, v) in row.as_flat_mut().iter_mut().enumerate() {
                *v = constnorm::Float::from_f64(((r * 5 + i * 3) % 7) as f64 * 0.37 - 1.1);
            }
            row
        })
        .collect();
    let mut y = x.clone();
    for _ in 0..2 {
        let saved = layer.forward_train(&x, &mut y).unwrap();
        let mut grads = L::Grads::default();
        layer
            .backward(&x, &saved, &y, &mut y.clone(), &mut grads)
            .unwrap();
    }
    layer
}

macro_rules! round_trip {
    ($($name:ident: $ty:ty, set = |$l:ident| $set:expr;)*) => {$(
        #[test]
        fn $name() {
            let mut layer: $ty = trained();
            let $l = &mut layer;
            $set;
            let json = serde_json::to_string(&layer).unwrap();
            let back: $ty = serde_json::from_str(&json).unwrap();
            // Debug prints every float exactly, so equal text is equal bits.
            assert_eq!(format!("{back:?}"), format!("{layer:?}"));
        }
    )*};
}

round_trip! {
    layer_2d: Ln2d, set = |l| l.weight[1][2] = -0.1;
    layer_wide_f64: LnWide, set = |l| l.bias[767] = 1.0 / 3.0;
    layer_without_parameters: LnBare, set = |l| assert_eq!(*l, LnBare::new());
    batch_with_running_stats: Bn, set = |l| l.weight[0] = 2.5e-8;
    rms: Rms, set = |l| l.weight[4] = f32::MIN_POSITIVE;
    group: Gn, set = |l| l.bias[3] = -7.0;
    instance_tracked: In1d, set = |l| l.running_var[1] = 0.125;
}

#[test]
fn json_has_pytorch_names_and_nested_shapes() {
    let value = serde_json::to_value(Ln2d::new()).unwrap();
    assert_eq!(
        value,
        serde_json::json!({
            "weight": [[1.0, 1.0, 1.0], [1.0, 1.0, 1.0]],
            "bias": [[0.0, 0.0, 0.0], [0.0, 0.0, 0.0]],
        })
    );
    let value = serde_json::to_value(Bn::new()).unwrap();
    let keys: Vec<&str> = value
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys.len(), 5);
    for key in [
        "weight",
        "bias",
        "running_mean",
        "running_var",
        "num_batches_tracked",
    ] {
        assert!(keys.contains(&key), "{key}");
    }
    assert_eq!(
        serde_json::to_value(LnBare::new()).unwrap(),
        serde_json::json!({})
    );
}

#[test]
fn wrong_documents_are_errors_that_name_the_problem() {
    let cases = [
        (r#"{"weight": [[1,1,1],[1,1,1]]}"#, "missing field `bias`"),
        (
            r#"{"weight": [[1,1,1],[1,1,1]], "bias": [[0,0,0],[0,0,0]], "gamma": 1}"#,
            "unknown field `gamma`",
        ),
        (
            r#"{"weight": [[1,1,1],[1,1,1]], "weight": [[1,1,1],[1,1,1]], "bias": [[0,0,0],[0,0,0]]}"#,
            "duplicate field `weight`",
        ),
        (
            r#"{"weight": [[1,1,1],[1,1]], "bias": [[0,0,0],[0,0,0]]}"#,
            "invalid length 2",
        ),
        (
            r#"{"weight": [[1,1,1],[1,1,1],[1,1,1]], "bias": [[0,0,0],[0,0,0]]}"#,
            "invalid length 3",
        ),
        (
            r#"{"weight": [1,1,1,1,1,1], "bias": [[0,0,0],[0,0,0]]}"#,
            "invalid type",
        ),
    ];
    for (json, expected) in cases {
        let error = serde_json::from_str::<Ln2d>(json).unwrap_err().to_string();
        assert!(
            error.contains(expected),
            "{json}: {error:?} should contain {expected:?}"
        );
    }
    let error = serde_json::from_str::<Bn>(r#"{"weight":[1,1,1],"bias":[0,0,0],"running_mean":[0,0,0],"running_var":[1,1,1],"num_batches_tracked":-1}"#)
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("`num_batches_tracked` is negative (-1)"),
        "{error}"
    );
    // A negative running variance would make inference NaN: refused, naming
    // the field and the index (the variance of `Bn` is per channel).
    let error = serde_json::from_str::<Bn>(r#"{"weight":[1,1,1],"bias":[0,0,0],"running_mean":[0,0,0],"running_var":[1,-1,1],"num_batches_tracked":3}"#)
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("`running_var` has a negative variance at index 1"),
        "{error}"
    );
}

mod network {
    //! A `#[network]` that derives `Serialize` and `Deserialize`: `Linear`
    //! and the activations implement them too, so the whole model
    //! round-trips through JSON bit for bit.
    use constnorm::nn::{Gelu, Linear, init_seeded};
    use constnorm::{network, normalize};
    use serde::{Deserialize, Serialize};

    #[normalize(batch, dims = 8, dtype = f64)]
    struct Bn8;

    #[network]
    #[derive(Debug, Default, PartialEq, Serialize, Deserialize)]
    struct Net {
        fc1: Linear<3, 8, f64>,
        bn1: Bn8,
        act1: Gelu<8, f64>,
        out: Linear<8, 2, f64>,
    }

    #[test]
    fn a_network_round_trips_through_json() {
        let mut net = Net::default();
        init_seeded(&mut net, 17);
        net.bn1.running_var[3] = 0.1 + 0.2;
        net.bn1.num_batches_tracked = 5;
        let json = serde_json::to_string(&net).unwrap();
        assert!(json.starts_with(r#"{"fc1":{"weight":[["#), "{json}");
        assert!(json.contains(r#""act1":null"#), "{json}");
        let back: Net = serde_json::from_str(&json).unwrap();
        assert_eq!(back, net);
    }

    #[test]
    fn a_linear_of_the_wrong_size_is_an_error() {
        let json = r#"{"weight": [[1.0, 2.0]], "bias": [0.5]}"#;
        let err = serde_json::from_str::<Linear<3, 1, f64>>(json).unwrap_err();
        assert!(
            err.to_string()
                .contains("invalid length 2, expected `weight`: nested sequences of shape [3]"),
            "{err}"
        );
        let json = r#"{"weight": [[1.0, 2.0, 3.0]]}"#;
        let err = serde_json::from_str::<Linear<3, 1, f64>>(json).unwrap_err();
        assert!(err.to_string().contains("missing field `bias`"), "{err}");
    }
}
