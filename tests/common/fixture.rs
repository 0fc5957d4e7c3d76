//! The PyTorch training runs of tests/fixtures (`*_training_f64.json`,
//! format in tests/fixtures/README.md): the file as typed data, and the
//! comparison every fixture test makes.

use serde::Deserialize;
use std::collections::BTreeMap;

/// A tensor: its shape and its values, flat and row-major.
#[derive(Deserialize)]
pub struct Tensor {
    pub shape: Vec<usize>,
    pub values: Vec<f64>,
}

/// A state dict by PyTorch's keys.
pub type State = BTreeMap<String, Tensor>;

/// One training step: its batch, PyTorch's loss and logits before the
/// update, and the state after it.
#[derive(Deserialize)]
pub struct Step {
    pub x: Tensor,
    pub target: Vec<usize>,
    pub loss: f64,
    pub logits: Tensor,
    pub state_after: State,
}

/// Further inputs and their inference-mode logits under the final state.
#[derive(Deserialize)]
pub struct Eval {
    pub x: Tensor,
    pub logits: Tensor,
}

/// A whole training run.
#[derive(Deserialize)]
pub struct Fixture {
    pub init: State,
    pub steps: Vec<Step>,
    pub first_step_grads: State,
    #[serde(rename = "final")]
    pub last: State,
    pub eval: Eval,
}

/// tests/fixtures/`name`.
pub fn load(name: &str) -> Fixture {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// `|ours - theirs| <= 1e-9 * max(1, max |theirs|)` for the whole tensor;
/// keeps the worst relative difference in `worst`.
pub fn assert_close(what: &str, ours: &[f64], theirs: &[f64], worst: &mut f64) {
    assert_eq!(ours.len(), theirs.len(), "{what}: length");
    let scale = theirs.iter().fold(1.0_f64, |m, v| m.max(v.abs()));
    for (j, (a, b)) in ours.iter().zip(theirs).enumerate() {
        let err = (a - b).abs() / scale;
        *worst = worst.max(err);
        assert!(err <= 1e-9, "{what}[{j}]: {a} vs PyTorch {b}");
    }
}
