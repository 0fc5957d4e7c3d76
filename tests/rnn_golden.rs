//! The recurrent layers against PyTorch's `RNN`, `GRU`, `LSTM` and their
//! cells (tests/golden_layers/rnn.json) and the reference layer-normalized
//! LSTM and GRU (ln_rnn.json; formulas in tests/golden_layers/README.md):
//! every case forward (output sequence and final state) and backward
//! through time (gradients of the inputs, the initial state and every
//! parameter, each found by its PyTorch state-dict key, which checks the
//! names and shapes too). Tolerances are those of tests/common/golden.rs.
//! The stacked, bidirectional and packed sequence modules of
//! rnn_stacked.json run through [`Stacked`] the same way, and the masked
//! batch norm over time of masked_batch_norm.json (outputs, gradients and
//! the running statistics after a training pass).

mod common;

use common::golden::Report;
use common::golden_layers::{Case, Tensors, case, check_table, flat, grads_by_key};
use constnorm::nn::{
    Cell, GruCell, LnGruCell, LnLstmCell, LstmCell, Recurrent, ReluFn, RnnCell, Stacked,
    StackedState,
};
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

/// The states of every example from the tensors `names` (`h0`, then `c0`
/// for an LSTM; PyTorch's `(layers * D, N, H)`, row `k * D + d` layer `k`,
/// direction `d`).
fn stacked_rows<St: Row, const D: usize, const L1: usize>(
    tensors: &Tensors,
    names: &[&str],
    h: usize,
) -> Vec<StackedState<St, D, L1>> {
    let parts = St::LEN / h;
    let layers_d = D * (L1 + 1);
    let examples = tensors[names[0]].values.len() / (layers_d * h);
    (0..examples)
        .map(|n| {
            let mut state = StackedState::<St, D, L1>::ZERO;
            for k in 0..=L1 {
                for d in 0..D {
                    let flat = state.get_mut(k, d).as_flat_mut();
                    for (part, name) in names.iter().enumerate().take(parts) {
                        let row = (k * D + d) * examples + n;
                        let src = &tensors[*name].values[row * h..(row + 1) * h];
                        for (v, s) in flat[part * h..(part + 1) * h].iter_mut().zip(src) {
                            *v = Float::from_f64(*s);
                        }
                    }
                }
            }
            state
        })
        .collect()
}

/// The states as the tensors `names` (`h_n`, `c_n`) in PyTorch's layout.
fn stacked_tensors<St: Row, const D: usize, const L1: usize>(
    states: &[StackedState<St, D, L1>],
    names: &[&'static str],
    h: usize,
) -> Vec<(String, Vec<f64>)> {
    let parts = St::LEN / h;
    names
        .iter()
        .take(parts)
        .enumerate()
        .map(|(part, name)| {
            let mut values = Vec::new();
            for k in 0..=L1 {
                for d in 0..D {
                    for s in states {
                        let flat = &s.get(k, d).as_flat()[part * h..(part + 1) * h];
                        values.extend(flat.iter().map(|v| v.to_f64()));
                    }
                }
            }
            ((*name).to_owned(), values)
        })
        .collect()
}

/// A case of rnn_stacked.json through `forward_sequence` and
/// `backward_sequence`, with the case's lengths if it has them.
fn stacked<C0, C1, const S: usize, const D: usize, const L1: usize>(case: &Case) -> Report
where
    C0: Cell + Default,
    C1: Cell<State = C0::State, Hidden = C0::Hidden>
        + Parameters<Scalar = <C0 as Parameters>::Scalar>
        + Default,
    [C0::Input; S]: Row<Scalar = <C0 as Parameters>::Scalar>,
    [C1::Input; S]: Row<Scalar = <C0 as Parameters>::Scalar>,
{
    case.expect_dtype::<<C0 as Parameters>::Scalar>();
    let h = <C0::Hidden as Row>::LEN;
    let mut layer = Stacked::<C0, C1, S, D, L1>::default();
    case.load(&mut layer);
    let x: Vec<[C0::Input; S]> = case.input("x");
    let h0 = stacked_rows::<C0::State, D, L1>(&case.inputs, &["h0", "c0"], h);
    let lengths: Option<Vec<usize>> = case
        .inputs
        .get("lengths")
        .map(|t| t.values.iter().map(|v| *v as usize).collect());
    let lengths = lengths.as_deref();
    let n = x.len();
    let mut y = vec![[C1::Input::ZERO; S]; n];
    let mut last = vec![StackedState::ZERO; n];
    layer
        .forward_sequence(&x, &h0, lengths, &mut y, &mut last)
        .unwrap();

    let dy: Vec<[C1::Input; S]> = case.dy("output");
    let d_last = stacked_rows::<C0::State, D, L1>(&case.dy, &["h_n", "c_n"], h);
    let mut dx = vec![[C0::Input::ZERO; S]; n];
    let mut d_h0 = vec![StackedState::ZERO; n];
    let mut grads = Default::default();
    layer
        .backward_sequence(
            &x, &h0, lengths, &dy, &d_last, &mut dx, &mut d_h0, &mut grads,
        )
        .unwrap();

    let mut outputs = vec![("output".to_owned(), flat(&y))];
    outputs.extend(stacked_tensors(&last, &["h_n", "c_n"], h));
    let mut all_grads = vec![("x".to_owned(), flat(&dx))];
    all_grads.extend(stacked_tensors(&d_h0, &["h0", "c0"], h));
    all_grads.extend(grads_by_key(&layer, &grads));
    compare(case, &outputs, &all_grads)
}

mod rnn_stacked {
    use super::*;

    type Relu<const I: usize, const H: usize, T, const B: bool> = RnnCell<I, H, T, B, ReluFn>;

    macro_rules! stacked_table {
        ($($test:ident: <$c0:ty, $c1:ty, $s:literal, $d:literal, $l1:literal>;)*) => {
            $(
                #[test]
                fn $test() {
                    let name = stringify!($test);
                    stacked::<$c0, $c1, $s, $d, $l1>(case("rnn_stacked", name)).finish(name);
                }
            )*

            #[test]
            fn every_reference_case_is_run() {
                check_table("rnn_stacked", &[$(stringify!($test)),*]);
            }
        };
    }

    stacked_table! {
        rnn_f64_tanh_l1_bidir_t3_n2_i3_h4: <RnnCell<3, 4, f64>, RnnCell<8, 4, f64>, 3, 2, 0>;
        rnn_f64_tanh_nobias_l2_t4_n3_i2_h3: <RnnCell<2, 3, f64, false>, RnnCell<3, 3, f64, false>, 4, 1, 1>;
        rnn_f64_tanh_l3_bidir_t3_n2_i4_h2: <RnnCell<4, 2, f64>, RnnCell<4, 2, f64>, 3, 2, 2>;
        rnn_f64_relu_l2_bidir_t4_n2_i3_h4: <Relu<3, 4, f64, true>, Relu<8, 4, f64, true>, 4, 2, 1>;
        rnn_f64_relu_nobias_l3_t2_n1_i5_h3: <Relu<5, 3, f64, false>, Relu<3, 3, f64, false>, 2, 1, 2>;
        rnn_f64_tanh_l1_bidir_packed_t4_n3_i3_h3: <RnnCell<3, 3, f64>, RnnCell<6, 3, f64>, 4, 2, 0>;
        rnn_f64_relu_l2_packed_t5_n3_i2_h4: <Relu<2, 4, f64, true>, Relu<4, 4, f64, true>, 5, 1, 1>;
        rnn_f64_tanh_nobias_l3_bidir_packed_t3_n2_i2_h2: <RnnCell<2, 2, f64, false>, RnnCell<4, 2, f64, false>, 3, 2, 2>;
        gru_f64_l1_bidir_t5_n2_i3_h4: <GruCell<3, 4, f64>, GruCell<8, 4, f64>, 5, 2, 0>;
        gru_f64_l2_t3_n3_i4_h5: <GruCell<4, 5, f64>, GruCell<5, 5, f64>, 3, 1, 1>;
        gru_f64_nobias_l2_bidir_t4_n2_i2_h3: <GruCell<2, 3, f64, false>, GruCell<6, 3, f64, false>, 4, 2, 1>;
        gru_f64_l3_bidir_t2_n2_i3_h2: <GruCell<3, 2, f64>, GruCell<4, 2, f64>, 2, 2, 2>;
        gru_f64_l2_bidir_t1_n1_i2_h3: <GruCell<2, 3, f64>, GruCell<6, 3, f64>, 1, 2, 1>;
        gru_f64_l1_packed_t5_n3_i3_h4: <GruCell<3, 4, f64>, GruCell<4, 4, f64>, 5, 1, 0>;
        gru_f64_l2_bidir_packed_t5_n3_i4_h3: <GruCell<4, 3, f64>, GruCell<6, 3, f64>, 5, 2, 1>;
        gru_f64_nobias_l3_bidir_packed_t4_n4_i2_h2: <GruCell<2, 2, f64, false>, GruCell<4, 2, f64, false>, 4, 2, 2>;
        lstm_f64_l1_bidir_t4_n2_i3_h4: <LstmCell<3, 4, f64>, LstmCell<8, 4, f64>, 4, 2, 0>;
        lstm_f64_nobias_l2_t3_n3_i4_h3: <LstmCell<4, 3, f64, false>, LstmCell<3, 3, f64, false>, 3, 1, 1>;
        lstm_f64_l2_bidir_t5_n2_i3_h5: <LstmCell<3, 5, f64>, LstmCell<10, 5, f64>, 5, 2, 1>;
        lstm_f64_l3_bidir_t3_n2_i2_h3: <LstmCell<2, 3, f64>, LstmCell<6, 3, f64>, 3, 2, 2>;
        lstm_f64_l3_t4_n2_i1_h1: <LstmCell<1, 1, f64>, LstmCell<1, 1, f64>, 4, 1, 2>;
        lstm_f64_l1_bidir_packed_t4_n3_i3_h3: <LstmCell<3, 3, f64>, LstmCell<6, 3, f64>, 4, 2, 0>;
        lstm_f64_l2_bidir_packed_t6_n4_i3_h4: <LstmCell<3, 4, f64>, LstmCell<8, 4, f64>, 6, 2, 1>;
        lstm_f64_nobias_l2_packed_maxlen3_t5_n2_i3_h3: <LstmCell<3, 3, f64, false>, LstmCell<3, 3, f64, false>, 5, 1, 1>;
        rnn_f32_relu_l2_bidir_t4_n2_i3_h4: <Relu<3, 4, f32, true>, Relu<8, 4, f32, true>, 4, 2, 1>;
        rnn_f32_tanh_l1_bidir_packed_t4_n3_i3_h3: <RnnCell<3, 3, f32>, RnnCell<6, 3, f32>, 4, 2, 0>;
        gru_f32_nobias_l2_bidir_t4_n2_i2_h3: <GruCell<2, 3, f32, false>, GruCell<6, 3, f32, false>, 4, 2, 1>;
        gru_f32_l2_bidir_packed_t5_n3_i4_h3: <GruCell<4, 3, f32>, GruCell<6, 3, f32>, 5, 2, 1>;
        gru_f32_nobias_l3_bidir_packed_t4_n4_i2_h2: <GruCell<2, 2, f32, false>, GruCell<4, 2, f32, false>, 4, 2, 2>;
        lstm_f32_l2_bidir_t5_n2_i3_h5: <LstmCell<3, 5, f32>, LstmCell<10, 5, f32>, 5, 2, 1>;
        lstm_f32_l2_bidir_packed_t6_n4_i3_h4: <LstmCell<3, 4, f32>, LstmCell<8, 4, f32>, 6, 2, 1>;
        lstm_f32_nobias_l2_packed_maxlen3_t5_n2_i3_h3: <LstmCell<3, 3, f32, false>, LstmCell<3, 3, f32, false>, 5, 1, 1>;
        ln_lstm_stacked_f64_l2_t4_n2_i3_h4: <LnLstmCell<3, 4, f64>, LnLstmCell<4, 4, f64>, 4, 1, 1>;
        ln_lstm_stacked_f64_l2_packed_t5_n3_i2_h3: <LnLstmCell<2, 3, f64>, LnLstmCell<3, 3, f64>, 5, 1, 1>;
        ln_gru_stacked_f64_l2_t4_n2_i3_h4: <LnGruCell<3, 4, f64>, LnGruCell<4, 4, f64>, 4, 1, 1>;
        ln_gru_stacked_f64_l2_packed_t5_n3_i2_h3: <LnGruCell<2, 3, f64>, LnGruCell<3, 3, f64>, 5, 1, 1>;
        ln_lstm_stacked_f32_l2_packed_t5_n3_i2_h3: <LnLstmCell<2, 3, f32>, LnLstmCell<3, 3, f32>, 5, 1, 1>;
        ln_gru_stacked_f32_l2_t4_n2_i3_h4: <LnGruCell<3, 4, f32>, LnGruCell<4, 4, f32>, 4, 1, 1>;
    }
}

/// A case of masked_batch_norm.json: the masked pass of its mode, its
/// backward, and in training the running statistics after it.
fn masked<const C: usize, const S: usize, T: Float>(case: &Case) -> Report {
    use constnorm::nn::MaskedBatchNorm;
    case.expect_dtype::<T>();
    let mut layer = MaskedBatchNorm::<C, S, T>::new();
    let mut keys = Vec::new();
    constnorm::StateDict::visit_arrays_mut(&mut layer, &mut |key, _, values| {
        let t = &case.params[&key.to_string()];
        for (v, t) in values.iter_mut().zip(&t.values) {
            *v = T::from_f64(*t);
        }
        keys.push(key.to_string());
    });
    assert_eq!(
        keys.len() + 1,
        case.params.len(),
        "{}: parameters",
        case.name
    );
    layer.num_batches_tracked = case.params["num_batches_tracked"].values[0] as u64;
    let x: Vec<[[T; C]; S]> = case.input("x");
    let lengths: Vec<usize> = case.inputs["lengths"]
        .values
        .iter()
        .map(|v| *v as usize)
        .collect();
    let mut y = vec![[[T::ZERO; C]; S]; x.len()];
    let train = case.modes == ["train"];
    let saved = if train {
        layer.forward_train_masked(&x, &lengths, &mut y).unwrap()
    } else {
        layer.forward_eval_masked(&x, &lengths, &mut y).unwrap()
    };
    let dy: Vec<[[T; C]; S]> = case.dy("y");
    let mut dx = vec![[[T::ZERO; C]; S]; x.len()];
    let mut grads = constnorm::AffineGrads::<[T; C]>::default();
    layer
        .backward_masked(&x, &lengths, &saved, &dy, &mut dx, &mut grads)
        .unwrap();
    let after = case.state_after.as_ref().expect("state_after");
    let tol = if T::NAME == "f64" { 1e-12 } else { 1e-6 };
    for (name, ours) in [
        ("running_mean", &layer.running_mean),
        ("running_var", &layer.running_var),
    ] {
        for (o, t) in ours.iter().zip(&after[name].values) {
            assert!(
                (o.to_f64() - t).abs() <= tol * t.abs().max(1.0),
                "{}: {name} {o} vs {t}",
                case.name
            );
        }
    }
    assert_eq!(
        layer.num_batches_tracked, after["num_batches_tracked"].values[0] as u64,
        "{}",
        case.name
    );
    let outputs = vec![("y".to_owned(), flat(&y))];
    let all_grads = vec![
        ("x".to_owned(), flat(&dx)),
        ("weight".to_owned(), flat(&[grads.weight])),
        ("bias".to_owned(), flat(&[grads.bias])),
    ];
    compare(case, &outputs, &all_grads)
}

mod masked_batch_norm {
    use super::*;

    macro_rules! masked_table {
        ($($test:ident: <$c:literal, $s:literal, $t:ty>;)*) => {
            $(
                #[test]
                fn $test() {
                    let name = stringify!($test);
                    masked::<$c, $s, $t>(case("masked_batch_norm", name)).finish(name);
                }
            )*

            #[test]
            fn every_reference_case_is_run() {
                check_table("masked_batch_norm", &[$(stringify!($test)),*]);
            }
        };
    }

    masked_table! {
        masked_batch_norm_f64_train_n2_t4_c3_len4_2: <3, 4, f64>;
        masked_batch_norm_f64_train_n3_t5_c4_len5_1_3: <4, 5, f64>;
        masked_batch_norm_f64_train_n1_t3_c2_len2: <2, 3, f64>;
        masked_batch_norm_f64_train_n4_t6_c5_len6_6_6_6: <5, 6, f64>;
        masked_batch_norm_f64_train_n3_t4_c3_len2_0_3: <3, 4, f64>;
        masked_batch_norm_f64_train_n2_t6_c1_len3_5: <1, 6, f64>;
        masked_batch_norm_f64_eval_n2_t4_c3_len3_1: <3, 4, f64>;
        masked_batch_norm_f64_eval_n3_t5_c2_len5_2_4: <2, 5, f64>;
        masked_batch_norm_f32_train_n3_t5_c4_len5_1_3: <4, 5, f32>;
        masked_batch_norm_f32_train_n3_t4_c3_len2_0_3: <3, 4, f32>;
        masked_batch_norm_f32_eval_n3_t5_c2_len5_2_4: <2, 5, f32>;
    }
}
