//! The PyTorch reference vectors of layers beyond normalization
//! (tests/golden_layers, format in its README): loading a case's tensors into
//! fixed-size arrays, reading its options, and comparing every output and
//! gradient under the tolerances of [`super::golden`].

use super::golden::{Report, parse_all, test_name};
use constnorm::{Float, Gradients, Parameters, Row, StateDict};
use serde::Deserialize;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::sync::OnceLock;

#[derive(Debug, Deserialize)]
pub struct File {
    pub cases: Vec<Case>,
}

/// Tensors by name.
pub type Tensors = BTreeMap<String, Tensor>;

#[derive(Debug, Deserialize)]
pub struct Case {
    pub name: String,
    pub op: String,
    pub module: String,
    pub dtype: String,
    pub options: serde_json::Map<String, Value>,
    pub params: Tensors,
    pub inputs: Tensors,
    pub outputs: Tensors,
    pub dy: Tensors,
    pub grads: Tensors,
    pub outputs_torch_f32: Option<Tensors>,
    pub grads_torch_f32: Option<Tensors>,
    /// A layer's state after the call, where the case records it.
    pub state_after: Option<Tensors>,
    /// The modes the case was run in, where it records them.
    #[serde(default)]
    pub modes: Vec<String>,
}

#[derive(Debug, Deserialize)]
pub struct Tensor {
    pub shape: Vec<usize>,
    /// The values; a bool mask's are 0 and 1.
    #[serde(deserialize_with = "numbers_or_bools")]
    pub values: Vec<f64>,
}

/// A list of numbers, or of booleans (masks) read as 0 and 1.
fn numbers_or_bools<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<f64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Value {
        Number(f64),
        Bool(bool),
    }
    let values = Vec::<Value>::deserialize(d)?;
    let number = |v| match v {
        Value::Number(x) => x,
        Value::Bool(b) => f64::from(u8::from(b)),
    };
    Ok(values.into_iter().map(number).collect())
}

/// The reference files in tests/golden_layers, by stem.
pub const FILES: &[&str] = &[
    "attention",
    "attention_masks",
    "conv",
    "ln_rnn",
    "masked_batch_norm",
    "misc",
    "pool",
    "real_layers",
    "rnn",
    "rnn_stacked",
];

/// Every case of one reference file, parsed once per test binary.
pub fn file(stem: &str) -> &'static File {
    static PARSED: OnceLock<HashMap<&'static str, File>> = OnceLock::new();
    PARSED
        .get_or_init(|| parse_all("golden_layers", FILES))
        .get(stem)
        .unwrap_or_else(|| panic!("no reference file {stem}"))
}

/// The case of `stem`.json that the test `test` runs (see [`test_name`]).
pub fn case(stem: &str, test: &str) -> &'static Case {
    file(stem)
        .cases
        .iter()
        .find(|c| test_name(&c.name) == test)
        .unwrap_or_else(|| panic!("no case of {stem}.json is run by {test}"))
}

/// `golden_cases! { "stem"; test: kernel::<generic arguments>; ... }`: a
/// test per line running the case of tests/golden_layers/stem.json named by
/// the test (see [`test_name`]) through `run(case, geometry, forward,
/// backward)` with the kernel of [`with_kernel!`](crate::with_kernel), and a
/// test that the lines are exactly the file's cases.
#[macro_export]
macro_rules! golden_cases {
    ($stem:literal; $($test:ident: $kernel:ident::<$($arg:tt),*>;)*) => {
        $(
            #[test]
            fn $test() {
                let name = stringify!($test);
                let case = $crate::common::golden_layers::case($stem, name);
                $crate::with_kernel!(run(case), $kernel::<$($arg),*>).finish(name);
            }
        )*

        #[test]
        fn every_reference_case_is_run() {
            $crate::common::golden_layers::check_table($stem, &[$(stringify!($test)),*]);
        }
    };
}

/// Fails unless the tests of `table` are exactly the cases of `stem`.json.
pub fn check_table(stem: &str, table: &[&str]) {
    let mut json: Vec<String> = file(stem)
        .cases
        .iter()
        .map(|c| test_name(&c.name))
        .collect();
    let mut ours: Vec<String> = table.iter().map(|t| (*t).to_owned()).collect();
    json.sort_unstable();
    ours.sort_unstable();
    assert_eq!(
        ours, json,
        "the table of tests is not the list of cases in {stem}.json"
    );
}

/// Reference values as an array of any shape (exact: the inputs of the f32
/// cases are representable in f32).
pub fn array<R: Row>(values: &[f64]) -> R {
    let mut out = R::ZERO;
    assert_eq!(
        values.len(),
        R::LEN,
        "reference tensor has the wrong length"
    );
    for (o, v) in out.as_flat_mut().iter_mut().zip(values) {
        *o = <R::Scalar as Float>::from_f64(*v);
    }
    out
}

/// The values of rows, flat, as `f64`.
pub fn flat<R: Row>(rows: &[R]) -> Vec<f64> {
    rows.iter()
        .flat_map(|r| r.as_flat().iter().map(|v| v.to_f64()))
        .collect()
}

impl Case {
    /// Fails unless the test's scalar type is the case's dtype.
    pub fn expect_dtype<T: Float>(&self) {
        assert_eq!(T::NAME, self.dtype, "{}: wrong dtype", self.name);
    }

    /// An option that is a whole number.
    pub fn count(&self, name: &str) -> usize {
        let v = &self.options[name];
        v.as_u64()
            .unwrap_or_else(|| panic!("{}: option {name} = {v} is not a count", self.name))
            as usize
    }

    /// An option that is a list of whole numbers, one per spatial axis.
    pub fn counts(&self, name: &str) -> Vec<usize> {
        let v = &self.options[name];
        v.as_array()
            .and_then(|a| a.iter().map(|n| n.as_u64().map(|n| n as usize)).collect())
            .unwrap_or_else(|| panic!("{}: option {name} = {v} is not a list of counts", self.name))
    }

    /// An option that is a boolean.
    pub fn flag(&self, name: &str) -> bool {
        let v = &self.options[name];
        v.as_bool()
            .unwrap_or_else(|| panic!("{}: option {name} = {v} is not a boolean", self.name))
    }

    /// A batch input, as rows; its shape must be `(N, row shape)`.
    pub fn input<R: Row>(&self, name: &str) -> Vec<R> {
        rows(&self.name, name, &self.inputs[name])
    }

    /// The upstream gradient of an output, as rows.
    pub fn dy<R: Row>(&self, output: &str) -> Vec<R> {
        rows(&self.name, output, &self.dy[output])
    }

    /// A parameter, if the module has it; its shape must be the array's.
    pub fn param<P: Row>(&self, name: &str) -> Option<P> {
        self.params.get(name).map(|t| {
            assert_eq!(t.shape, P::SHAPE, "{}: shape of {name}", self.name);
            array(&t.values)
        })
    }

    /// A bool input (a mask), flat, if the case has it.
    pub fn bools(&self, name: &str) -> Option<Vec<bool>> {
        self.inputs
            .get(name)
            .map(|t| t.values.iter().map(|v| *v != 0.0).collect())
    }

    /// Sets every array of `layer` to the case's parameter of the same
    /// state-dict key and shape; the layer must have exactly the module's
    /// parameters.
    pub fn load<M: StateDict>(&self, layer: &mut M) {
        let mut ours = Vec::new();
        layer.visit_arrays_mut(&mut |key, shape, values| {
            let key = key.to_string();
            let theirs = &self
                .params
                .get(&key)
                .unwrap_or_else(|| panic!("{}: the reference has no parameter {key}", self.name));
            assert_eq!(shape, theirs.shape, "{}: shape of {key}", self.name);
            assert_eq!(values.len(), theirs.values.len(), "{}: {key}", self.name);
            for (v, t) in values.iter_mut().zip(&theirs.values) {
                *v = <M::Scalar as Float>::from_f64(*t);
            }
            ours.push(key);
        });
        let theirs: Vec<&String> = self.params.keys().collect();
        ours.sort_unstable();
        assert_eq!(
            ours.iter().collect::<Vec<_>>(),
            theirs,
            "{}: parameters",
            self.name
        );
    }

    /// Compares our outputs and gradients (by the reference's names) with
    /// the reference's; both must name the same tensors.
    pub fn compare(&self, outputs: &[(&str, Vec<f64>)], grads: &[(&str, Vec<f64>)]) -> Report {
        let f32_case = match self.dtype.as_str() {
            "f32" => true,
            "f64" => false,
            other => panic!("unknown dtype {other}"),
        };
        let mut report = Report::default();
        let groups = [
            ("output", outputs, &self.outputs, &self.outputs_torch_f32),
            ("grad", grads, &self.grads, &self.grads_torch_f32),
        ];
        for (kind, ours, expected, torch) in groups {
            let mut names: Vec<&str> = ours.iter().map(|(n, _)| *n).collect();
            names.sort_unstable();
            let theirs: Vec<&str> = expected.keys().map(String::as_str).collect();
            assert_eq!(names, theirs, "{}: {kind} tensors", self.name);
            for (name, got) in ours {
                let torch = torch.as_ref().map(|t| t[*name].values.as_slice());
                let what = format!("{} {kind} {name}", self.name);
                report.compare(f32_case, &what, got, &expected[*name].values, torch);
            }
        }
        report
    }
}

/// Every parameter gradient of `model` under its state-dict key, as `f64`:
/// gradient array `i` belongs to the state-dict array that is
/// `parameter(i)` (the same memory).
pub fn grads_by_key<M>(model: &M, grads: &M::Grads) -> Vec<(String, Vec<f64>)>
where
    M: Parameters + StateDict<Scalar = <M as Parameters>::Scalar>,
{
    let mut out = Vec::new();
    model.visit_arrays(&mut |key, _, values| {
        let i = (0..<M::Grads as Gradients<_>>::ARRAYS)
            .find(|&i| std::ptr::eq(model.parameter(i), values))
            .unwrap_or_else(|| panic!("{key} is no parameter array"));
        out.push((
            key.to_string(),
            grads.array(i).iter().map(|g| g.to_f64()).collect(),
        ));
    });
    out
}

fn rows<R: Row>(case: &str, name: &str, tensor: &Tensor) -> Vec<R> {
    assert_eq!(&tensor.shape[1..], R::SHAPE, "{case}: shape of {name}");
    tensor.values.chunks_exact(R::LEN).map(array).collect()
}
