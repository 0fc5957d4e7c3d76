//! The recurrent layers against PyTorch's `RNN`, `GRU`, `LSTM` and their
//! cells (tests/golden_layers/rnn.json) and the reference layer-normalized
//! LSTM and GRU (ln_rnn.json; formulas in tests/golden_layers/README.md):
//! every case forward (output sequence and final state) and backward
//! through time (gradients of the inputs, the initial state and every
//! parameter, each found by its PyTorch state-dict key, which checks the
//! names and shapes too). Tolerances are those of tests/common/golden.rs.

mod common;

use common::golden::Report;
use common::golden_layers::{Case, Tensors, case, check_table, flat, grads_by_key};
use constnorm::nn::{Cell, GruCell, LnGruCell, LnLstmCell, LstmCell, Recurrent, ReluFn, RnnCell};
use constnorm::{Float, Parameters, Row};

/// The state rows of each example from the tensors `names` (`h0`, then
/// `c0` for an LSTM; PyTorch's `(1, N, H)` or `(N, H)`).
fn state_rows<C: Cell>(tensors: &Tensors, names: &[&str]) -> Vec<C::State> {
    let h = <C::Hidden as Row>::LEN;
    let parts = <C::State as Row>::LEN / h;
    let examples = tensors[names[0]].values.len() / h;
    (0..examples)
        .map(|e| {
            let mut state = C::State::ZERO;
            let flat = state.as_flat_mut();
            for (part, name) in names.iter().enumerate().take(parts) {
                let src = &tensors[*name].values[e * h..(e + 1) * h];
                for (d, v) in flat[part * h..(part + 1) * h].iter_mut().zip(src) {
                    *d = Float::from_f64(*v);
                }
            }
            state
        })
        .collect()
}

/// The states as the tensors `names` (`h_n`, `c_n`), flat.
fn state_tensors<C: Cell>(states: &[C::State], names: &[&'static str]) -> Vec<(String, Vec<f64>)> {
    let h = <C::Hidden as Row>::LEN;
    let parts = <C::State as Row>::LEN / h;
    names
        .iter()
        .take(parts)
        .enumerate()
        .map(|(part, name)| {
            let values = states
                .iter()
                .flat_map(|s| {
                    s.as_flat()[part * h..(part + 1) * h]
                        .iter()
                        .map(|v| v.to_f64())
                })
                .collect();
            ((*name).to_owned(), values)
        })
        .collect()
}

/// Named tensors as [`Case::compare`] takes them.
fn view(tensors: &[(String, Vec<f64>)]) -> Vec<(&str, Vec<f64>)> {
    tensors
        .iter()
        .map(|(n, v)| (n.as_str(), v.clone()))
        .collect()
}

/// Compares named tensors with the case's.
fn compare(case: &Case, outputs: &[(String, Vec<f64>)], grads: &[(String, Vec<f64>)]) -> Report {
    case.compare(&view(outputs), &view(grads))
}

/// A sequence case (`rnn`, `gru`, `lstm`, `ln_lstm`, `ln_gru`) through
/// `forward_sequence` and `backward_sequence`.
fn sequence<C: Cell + Default, const S: usize>(case: &Case) -> Report
where
    [C::Input; S]: Row<Scalar = <C as Parameters>::Scalar>,
    [C::Hidden; S]: Row<Scalar = <C as Parameters>::Scalar>,
{
    case.expect_dtype::<<C as Parameters>::Scalar>();
    let mut layer = Recurrent::<C, S>::new();
    case.load(&mut layer);
    let x: Vec<[C::Input; S]> = case.input("x");
    let h0 = state_rows::<C>(&case.inputs, &["h0", "c0"]);
    let n = x.len();
    let mut y = vec![[C::Hidden::ZERO; S]; n];
    let mut last = vec![C::State::ZERO; n];
    layer.forward_sequence(&x, &h0, &mut y, &mut last).unwrap();

    let dy: Vec<[C::Hidden; S]> = case.dy("output");
    let d_last = state_rows::<C>(&case.dy, &["h_n", "c_n"]);
    let mut dx = vec![[C::Input::ZERO; S]; n];
    let mut d_h0 = vec![C::State::ZERO; n];
    let mut grads = C::Grads::default();
    layer
        .backward_sequence(&x, &h0, &dy, &d_last, &mut dx, &mut d_h0, &mut grads)
        .unwrap();

    let mut outputs = vec![("output".to_owned(), flat(&y))];
    outputs.extend(state_tensors::<C>(&last, &["h_n", "c_n"]));
    let mut all_grads = vec![("x".to_owned(), flat(&dx))];
    all_grads.extend(state_tensors::<C>(&d_h0, &["h0", "c0"]));
    all_grads.extend(grads_by_key(&layer, &grads));
    compare(case, &outputs, &all_grads)
}

/// A cell case (`rnn_cell`, `gru_cell`, `lstm_cell`) through
/// `forward_step` and `backward_step`.
fn cell<C: Cell + Default>(case: &Case) -> Report {
    case.expect_dtype::<<C as Parameters>::Scalar>();
    let mut cell = C::default();
    case.load(&mut cell);
    let x: Vec<C::Input> = case.input("x");
    let h0 = state_rows::<C>(&case.inputs, &["h0", "c0"]);
    let n = x.len();
    let mut next = vec![C::State::ZERO; n];
    cell.forward_step(&x, &h0, &mut next).unwrap();

    let d_next = state_rows::<C>(&case.dy, &["h1", "c1"]);
    let mut dx = vec![C::Input::ZERO; n];
    let mut d_h0 = vec![C::State::ZERO; n];
    let mut grads = C::Grads::default();
    cell.backward_step(&x, &h0, &d_next, &mut dx, &mut d_h0, &mut grads)
        .unwrap();

    let outputs = state_tensors::<C>(&next, &["h1", "c1"]);
    let mut all_grads = vec![("x".to_owned(), flat(&dx))];
    all_grads.extend(state_tensors::<C>(&d_h0, &["h0", "c0"]));
    all_grads.extend(grads_by_key(&cell, &grads));
    compare(case, &outputs, &all_grads)
}

/// `table! { "stem"; test: runner::<types>; ... }`: a test per case of
/// tests/golden_layers/stem.json, and a test that the table is exactly the
/// file's cases.
macro_rules! table {
    ($stem:literal; $($test:ident: $run:ident::<$cell:ty $(, $steps:literal)?>;)*) => {
        $(
            #[test]
            fn $test() {
                let name = stringify!($test);
                $run::<$cell $(, $steps)?>(case($stem, name)).finish(name);
            }
        )*

        #[test]
        fn every_reference_case_is_run() {
            check_table($stem, &[$(stringify!($test)),*]);
        }
    };
}

mod rnn {
    use super::*;

    type Relu<const I: usize, const H: usize, T, const B: bool> = RnnCell<I, H, T, B, ReluFn>;

    table! { "rnn";
        rnn_f64_tanh_t3_n2_i3_h4: sequence::<RnnCell<3, 4, f64>, 3>;
        rnn_f64_tanh_nobias_t7_n2_i3_h4: sequence::<RnnCell<3, 4, f64, false>, 7>;
        rnn_f64_relu_t3_n2_i3_h4: sequence::<Relu<3, 4, f64, true>, 3>;
        rnn_f64_relu_nobias_t1_n2_i3_h4: sequence::<Relu<3, 4, f64, false>, 1>;
        gru_f64_t1_n2_i3_h4: sequence::<GruCell<3, 4, f64>, 1>;
        gru_f64_t3_n2_i3_h4: sequence::<GruCell<3, 4, f64>, 3>;
        gru_f64_nobias_t7_n2_i3_h4: sequence::<GruCell<3, 4, f64, false>, 7>;
        lstm_f64_nobias_t1_n2_i3_h4: sequence::<LstmCell<3, 4, f64, false>, 1>;
        lstm_f64_t3_n2_i3_h4: sequence::<LstmCell<3, 4, f64>, 3>;
        lstm_f64_t7_n2_i3_h4: sequence::<LstmCell<3, 4, f64>, 7>;
        rnn_cell_f64_tanh_n2_i3_h4: cell::<RnnCell<3, 4, f64>>;
        rnn_cell_f64_relu_nobias_n2_i3_h4: cell::<Relu<3, 4, f64, false>>;
        gru_cell_f64_n2_i3_h4: cell::<GruCell<3, 4, f64>>;
        lstm_cell_f64_n2_i3_h4: cell::<LstmCell<3, 4, f64>>;
        rnn_f32_tanh_nobias_t7_n2_i3_h4: sequence::<RnnCell<3, 4, f32, false>, 7>;
        gru_f32_nobias_t7_n2_i3_h4: sequence::<GruCell<3, 4, f32, false>, 7>;
        lstm_f32_t7_n2_i3_h4: sequence::<LstmCell<3, 4, f32>, 7>;
    }
}

mod ln_rnn {
    use super::*;

    table! { "ln_rnn";
        ln_lstm_f64_t1_n2_i3_h4: sequence::<LnLstmCell<3, 4, f64>, 1>;
        ln_lstm_f64_t4_n3_i3_h4: sequence::<LnLstmCell<3, 4, f64>, 4>;
        ln_lstm_f64_t6_n2_i5_h3: sequence::<LnLstmCell<5, 3, f64>, 6>;
        ln_lstm_f64_t4_n2_i2_h8: sequence::<LnLstmCell<2, 8, f64>, 4>;
        ln_gru_f64_t1_n2_i3_h4: sequence::<LnGruCell<3, 4, f64>, 1>;
        ln_gru_f64_t4_n3_i3_h4: sequence::<LnGruCell<3, 4, f64>, 4>;
        ln_gru_f64_t6_n2_i5_h3: sequence::<LnGruCell<5, 3, f64>, 6>;
        ln_gru_f64_t4_n2_i2_h8: sequence::<LnGruCell<2, 8, f64>, 4>;
        ln_lstm_f32_t4_n3_i3_h4: sequence::<LnLstmCell<3, 4, f32>, 4>;
        ln_gru_f32_t4_n3_i3_h4: sequence::<LnGruCell<3, 4, f32>, 4>;
    }
}
