//! Every runtime error path, for every kind and switch: the right
//! `NormError`, a message that says what to do, and nothing changed: the
//! layer (every field, bit for bit), the gradient accumulators and the output
//! buffers are as they were.

use constnorm::{Layer as _, NormError, Normalization, Row, normalize};

#[test]
fn norm_error_is_a_std_error() {
    fn assert_error<E: std::error::Error + Send + Sync + 'static + Copy>() {}
    assert_error::<NormError>();
}

#[test]
fn messages_say_what_is_wrong() {
    let cases = [
        (
            NormError::RowCountMismatch {
                argument: "y",
                expected: 4,
                found: 3,
            },
            "`y` has 3 rows but `x` has 4",
        ),
        (
            NormError::SavedRowsMismatch {
                expected: 4,
                found: 3,
            },
            "`x` has 3 rows but the saved statistics come from a forward pass over 4 rows",
        ),
        (NormError::EmptyBatch, "empty batch"),
        (
            NormError::TooFewValuesPerChannel { values: 1 },
            "Expected more than 1 value per channel when training, got 1",
        ),
        (
            NormError::ShapeMismatch {
                argument: "x",
                expected_features: 3,
                found: [2, 4],
            },
            "`x` has shape (2, 4) but the layer expects (batch, 3)",
        ),
        (
            NormError::RowShapeMismatch {
                argument: "dy",
                expected: &[3, 4, 4],
                found: constnorm::FoundShape::new(&[1, 2, 3, 4, 5, 6, 7, 8, 9]),
            },
            "`dy` has shape (1, 2, 3, 4, 5, 6, 7, 8, ...) but the layer expects (batch, 3, 4, 4)",
        ),
    ];
    for (error, text) in cases {
        let message = error.to_string();
        assert!(
            message.contains(text),
            "{message:?} does not contain {text:?}"
        );
    }
}

/// Everything a failed call must leave alone, as text: `Debug` prints floats
/// exactly (shortest round-trip form, with the sign of zero), so equal text
/// is equal bits for every non-NaN value.
fn snapshot<T: std::fmt::Debug>(value: &T) -> String {
    format!("{value:?}")
}

/// Four rows of varied values for any row shape.
fn batch<R: Row>() -> Vec<R> {
    (0..4)
        .map(|r| {
            let mut row = R::ZERO;
            for (i, v) in row.as_flat_mut().iter_mut().enumerate() {
                *v = <R::Scalar as constnorm::Float>::from_f64(((r * 7 + i * 3) % 11) as f64 - 4.5);
            }
            row
        })
        .collect()
}

macro_rules! untouched_on_error {
    ($($name:ident: [$($attr:tt)*], one_row_trains = $one:literal;)*) => {$(
        mod $name {
            use super::*;

            #[normalize($($attr)*)]
            struct Layer;

            type R = <Layer as Normalization>::Row;
            type G = <Layer as constnorm::Parameters>::Grads;

            /// A layer whose state is not the default, and gradients that
            /// are not zero, from two real training steps.
            fn trained() -> (Layer, G) {
                let mut layer = Layer::new();
                let x = batch::<R>();
                let mut y = vec![R::ZERO; 4];
                let mut grads = G::default();
                for _ in 0..2 {
                    let saved = layer.forward_train(&x, &mut y).unwrap();
                    layer.backward(&x, &saved, &y, &mut y.clone(), &mut grads).unwrap();
                }
                (layer, grads)
            }

            /// Runs a failing call and checks its error and that nothing changed.
            fn refuses(
                expected: NormError,
                call: impl FnOnce(&mut Layer, &mut [R], &mut G) -> Result<(), NormError>,
            ) {
                let (mut layer, mut grads) = trained();
                let (layer_before, grads_before) = (snapshot(&layer), snapshot(&grads));
                let sentinel = {
                    let mut row = R::ZERO;
                    row.as_flat_mut().fill(<<R as Row>::Scalar as constnorm::Float>::from_f64(1e30));
                    row
                };
                let mut out = vec![sentinel; 4];
                assert_eq!(call(&mut layer, &mut out, &mut grads), Err(expected));
                assert_eq!(snapshot(&layer), layer_before, "layer state changed");
                assert_eq!(out, vec![sentinel; 4], "output buffer written");
                assert_eq!(snapshot(&grads), grads_before, "gradients changed");
            }

            #[test]
            fn forward_with_short_or_long_output() {
                let x = batch::<R>();
                let e = NormError::RowCountMismatch { argument: "y", expected: 4, found: 3 };
                refuses(e, |l, out, _| l.forward_train(&x, &mut out[..3]).map(drop));
                refuses(e, |l, out, _| l.forward_eval(&x, &mut out[..3]).map(drop));
                let e = NormError::RowCountMismatch { argument: "y", expected: 2, found: 4 };
                refuses(e, |l, out, _| l.forward_train(&x[..2], out).map(drop));
            }

            #[test]
            fn forward_on_an_empty_batch() {
                refuses(NormError::EmptyBatch, |l, out, _| l.forward_train(&[], &mut out[..0]).map(drop));
                refuses(NormError::EmptyBatch, |l, out, _| l.forward_eval(&[], &mut out[..0]).map(drop));
            }

            #[test]
            fn training_on_one_row() {
                let x = batch::<R>();
                assert_eq!(<Layer as constnorm::Layer>::MIN_TRAIN_ROWS, if $one { 1 } else { 2 });
                if $one {
                    let (mut layer, _) = trained();
                    assert!(layer.forward_train(&x[..1], &mut [R::ZERO]).is_ok());
                } else {
                    refuses(NormError::TooFewValuesPerChannel { values: 1 }, |l, out, _| {
                        l.forward_train(&x[..1], &mut out[..1]).map(drop)
                    });
                }
            }

            #[test]
            fn backward_with_mismatched_rows() {
                let x = batch::<R>();
                for train in [true, false] {
                    let (mut layer, _) = trained();
                    let mut y = vec![R::ZERO; 4];
                    let saved = if train {
                        layer.forward_train(&x, &mut y).unwrap()
                    } else {
                        layer.forward_eval(&x, &mut y).unwrap()
                    };
                    refuses(NormError::SavedRowsMismatch { expected: 4, found: 3 }, |l, out, g| {
                        l.backward(&x[..3], &saved, &x[..3], &mut out[..3], g)
                    });
                    refuses(NormError::RowCountMismatch { argument: "dy", expected: 4, found: 3 }, |l, out, g| {
                        l.backward(&x, &saved, &x[..3], out, g)
                    });
                    refuses(NormError::RowCountMismatch { argument: "dx", expected: 4, found: 2 }, |l, out, g| {
                        l.backward(&x, &saved, &x, &mut out[..2], g)
                    });
                    refuses(NormError::SavedRowsMismatch { expected: 4, found: 2 }, |l, _, g| {
                        l.backward_array(&[x[0], x[1]], &saved, &[x[0], x[1]], g).map(drop)
                    });
                }
            }

            #[test]
            fn ndarray_shapes() {
                use constnorm::NormalizationNdarray;
                let len = <R as Row>::LEN;
                let wrong = ndarray::Array2::zeros((4, len + 1));
                let e = NormError::ShapeMismatch { argument: "x", expected_features: len, found: [4, len + 1] };
                refuses(e, |l, _, _| l.forward_train_ndarray(wrong.view()).map(drop));
                refuses(e, |l, _, _| l.forward_eval_ndarray(wrong.view()).map(drop));
                let wrong_d = ndarray::ArrayD::zeros(vec![4, len + 1]);
                refuses(
                    NormError::RowShapeMismatch {
                        argument: "x",
                        expected: <R as Row>::SHAPE,
                        found: constnorm::FoundShape::new(&[4, len + 1]),
                    },
                    |l, _, _| l.forward_train_ndarray_d(wrong_d.view()).map(drop),
                );
                let x = ndarray::Array2::from_shape_fn((4, len), |(r, c)| batch::<R>()[r].as_flat()[c]);
                refuses(NormError::EmptyBatch, |l, _, _| {
                    l.forward_train_ndarray(x.slice(ndarray::s![..0, ..])).map(drop)
                });
                let saved = trained().0.forward_eval_ndarray(x.view()).unwrap().1;
                refuses(
                    NormError::ShapeMismatch { argument: "dy", expected_features: len, found: [4, len + 1] },
                    |l, _, g| l.backward_ndarray(x.view(), &saved, wrong.view(), g).map(drop),
                );
            }
        }
    )*};
}

untouched_on_error! {
    batch: [batch, dims = 3], one_row_trains = false;
    batch_f64_cumulative: [batch, dims = 3, momentum = none, dtype = f64], one_row_trains = false;
    batch_spatial: [batch, dims = 3, spatial = [2, 2]], one_row_trains = true;
    batch_no_affine: [batch, dims = 3, affine = false], one_row_trains = false;
    batch_no_running: [batch, dims = 3, track_running_stats = false], one_row_trains = false;
    layer: [layer, dims = 3], one_row_trains = true;
    layer_2d_no_bias: [layer, dims = [2, 3], bias = false], one_row_trains = true;
    layer_no_affine: [layer, dims = 3, affine = false], one_row_trains = true;
    rms: [rms, dims = 3], one_row_trains = true;
    rms_with_bias: [rms, dims = [2, 2], bias = true, dtype = f64], one_row_trains = true;
    group: [group, dims = 4, groups = 2, spatial = 3], one_row_trains = true;
    instance: [instance, dims = 2, spatial = 3], one_row_trains = true;
    instance_tracked: [instance, dims = 2, spatial = [2, 2], affine = true, track_running_stats = true], one_row_trains = true;
}
