//! Every runtime error path: the right `NormError`, a message that says what
//! to do, and nothing changed: the layer (bit for bit), the gradient
//! accumulators and the output buffers are as they were.

use constnorm::{AffineGrads, NormError, Normalization, normalize};

#[test]
fn norm_error_is_a_std_error() {
    fn assert_error<E: std::error::Error + Send + Sync + 'static>() {}
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
    ];
    for (error, text) in cases {
        let message = error.to_string();
        assert!(
            message.contains(text),
            "{message:?} does not contain {text:?}"
        );
    }
}

/// The bits of every value a layer holds.
fn bits<T: Copy + Into<f64>>(values: &[T]) -> Vec<u64> {
    values.iter().map(|v| (*v).into().to_bits()).collect()
}

macro_rules! untouched_on_error {
    ($name:ident: $kind:ident; $($state:ident),*; counter $($counter:ident)?; min_train_rows = $min:literal) => {
        mod $name {
            use super::*;

            #[normalize($kind, dims = 3)]
            struct Layer;

            fn state(l: &Layer) -> Vec<u64> {
                let mut all = bits(&l.weight);
                all.extend(bits(&l.bias));
                $( all.extend(bits(&l.$state)); )*
                $( all.push(l.$counter); )?
                all
            }

            fn layer() -> Layer {
                let mut l = Layer::new();
                l.weight = [0.5, -1.25, 2.0];
                l.bias = [0.1, 0.2, -0.3];
                $( l.$state = [0.3, 1.7, 0.9]; )*
                $( l.$counter = 7; )?
                l
            }

            const X: [[f32; 3]; 4] = [[1.0, 2.0, 3.0], [0.0, -1.0, 5.0], [2.5, 2.0, -4.0], [1.0, 1.0, 1.0]];
            const SENTINEL: [f32; 3] = [f32::MAX; 3];

            /// Runs a failing call and checks its error and that nothing changed.
            fn refuses(expected: NormError, call: impl FnOnce(&mut Layer, &mut [[f32; 3]], &mut AffineGrads<[f32; 3]>) -> Result<(), NormError>) {
                let mut l = layer();
                let before = state(&l);
                let mut out = [SENTINEL; 4];
                let mut grads = AffineGrads { weight: [9.0; 3], bias: [-9.0; 3] };
                let result = call(&mut l, &mut out, &mut grads);
                assert_eq!(result, Err(expected));
                assert_eq!(state(&l), before, "layer state changed");
                assert_eq!(out, [SENTINEL; 4], "output buffer written");
                assert_eq!(grads, AffineGrads { weight: [9.0; 3], bias: [-9.0; 3] }, "gradients changed");
            }

            #[test]
            fn forward_with_short_output() {
                let e = NormError::RowCountMismatch { argument: "y", expected: 4, found: 3 };
                refuses(e, |l, out, _| l.forward_train(&X, &mut out[..3]).map(drop));
                refuses(e, |l, out, _| l.forward_eval(&X, &mut out[..3]).map(drop));
            }

            #[test]
            fn forward_with_long_output() {
                let e = NormError::RowCountMismatch { argument: "y", expected: 2, found: 4 };
                refuses(e, |l, out, _| l.forward_train(&X[..2], out).map(drop));
            }

            #[test]
            fn forward_on_an_empty_batch() {
                refuses(NormError::EmptyBatch, |l, out, _| l.forward_train(&[], &mut out[..0]).map(drop));
                refuses(NormError::EmptyBatch, |l, out, _| l.forward_eval(&[], &mut out[..0]).map(drop));
            }

            #[test]
            fn training_on_too_few_rows() {
                assert_eq!(<Layer as Normalization>::MIN_TRAIN_ROWS, $min);
                if $min > 1 {
                    refuses(NormError::TooFewValuesPerChannel { values: 1 }, |l, out, _| {
                        l.forward_train(&X[..1], &mut out[..1]).map(drop)
                    });
                } else {
                    let mut l = layer();
                    assert!(l.forward_train(&X[..1], &mut [[0.0; 3]]).is_ok());
                }
                // Inference on one row is always fine.
                assert!(layer().forward_eval(&X[..1], &mut [[0.0; 3]]).is_ok());
            }

            #[test]
            fn backward_with_mismatched_rows() {
                for train in [true, false] {
                    let mut l = layer();
                    let saved = if train {
                        l.forward_train(&X, &mut [[0.0; 3]; 4]).unwrap()
                    } else {
                        l.forward_eval(&X, &mut [[0.0; 3]; 4]).unwrap()
                    };
                    refuses(NormError::SavedRowsMismatch { expected: 4, found: 3 }, |l, out, g| {
                        l.backward(&X[..3], &saved, &X[..3], &mut out[..3], g)
                    });
                    refuses(NormError::RowCountMismatch { argument: "dy", expected: 4, found: 3 }, |l, out, g| {
                        l.backward(&X, &saved, &X[..3], out, g)
                    });
                    refuses(NormError::RowCountMismatch { argument: "dx", expected: 4, found: 2 }, |l, out, g| {
                        l.backward(&X, &saved, &X, &mut out[..2], g)
                    });
                    let mut grads = AffineGrads::default();
                    assert_eq!(
                        l.backward_array(&[X[0], X[1]], &saved, &[X[0], X[1]], &mut grads),
                        Err(NormError::SavedRowsMismatch { expected: 4, found: 2 })
                    );
                    assert_eq!(grads, AffineGrads::default());
                }
            }

            #[test]
            fn ndarray_shapes() {
                use constnorm::NormalizationNdarray;
                use ndarray::Array2;
                let wrong = Array2::<f32>::zeros((4, 2));
                let e = NormError::ShapeMismatch { argument: "x", expected_features: 3, found: [4, 2] };
                let mut l = layer();
                let before = state(&l);
                assert_eq!(l.forward_train_ndarray(wrong.view()).unwrap_err(), e);
                assert_eq!(l.forward_eval_ndarray(wrong.view()).unwrap_err(), e);
                assert_eq!(state(&l), before);
                let x = Array2::from_shape_fn((4, 3), |(r, c)| X[r][c]);
                let (_, saved) = l.forward_eval_ndarray(x.view()).unwrap();
                let mut grads = AffineGrads::default();
                assert_eq!(
                    l.backward_ndarray(x.view(), &saved, wrong.view(), &mut grads).unwrap_err(),
                    NormError::ShapeMismatch { argument: "dy", expected_features: 3, found: [4, 2] }
                );
                assert_eq!(grads, AffineGrads::default());
                let before = state(&l);
                assert_eq!(l.forward_train_ndarray(x.slice(ndarray::s![..0, ..])).unwrap_err(), NormError::EmptyBatch);
                assert_eq!(state(&l), before);
            }
        }
    };
}

untouched_on_error!(batch: batch; running_mean, running_var; counter num_batches_tracked; min_train_rows = 2);
untouched_on_error!(layer: layer; ; counter; min_train_rows = 1);
