//! `MultiheadAttention::forward_attn_mask` / `backward_attn_mask`, PyTorch's
//! general `attn_mask` (bool or float, `(L, L)` or one per example and
//! head), with and without a key padding mask, against every case of
//! `tests/golden_layers/attention_masks.json`: the output, the input and
//! parameter gradients, and a float mask's own gradient.

mod common;

use common::golden_layers::{Case, case, check_table, flat, grads_by_key};
use constnorm::nn::{AttnMask, MultiheadAttention};
use constnorm::{Float, Layer, NormError, Parameters, Row};

/// The case's `(L, L)` or `(N * HEADS, L, L)` mask, as bools or floats.
enum Mask<T, const L: usize> {
    Bool(Vec<[[bool; L]; L]>),
    Float(Vec<[[T; L]; L]>),
}

fn mask<T: Float, const L: usize>(case: &Case) -> (Mask<T, L>, bool) {
    let t = &case.inputs["attn_mask"];
    let per_head = t.shape.len() == 3;
    let is_bool = !case.grads.contains_key("attn_mask");
    let matrices = t.values.len() / (L * L);
    let mask = if is_bool {
        let mut m = vec![[[false; L]; L]; matrices];
        for (k, v) in t.values.iter().enumerate() {
            m[k / (L * L)][(k / L) % L][k % L] = *v != 0.0;
        }
        Mask::Bool(m)
    } else {
        let mut m = vec![[[T::ZERO; L]; L]; matrices];
        for (k, v) in t.values.iter().enumerate() {
            m[k / (L * L)][(k / L) % L][k % L] = T::from_f64(*v);
        }
        Mask::Float(m)
    };
    (mask, per_head)
}

fn view<T, const L: usize>(mask: &Mask<T, L>, per_head: bool) -> AttnMask<'_, T, L> {
    match (mask, per_head) {
        (Mask::Bool(m), false) => AttnMask::Bool(&m[0]),
        (Mask::Bool(m), true) => AttnMask::HeadBool(m),
        (Mask::Float(m), false) => AttnMask::Float(&m[0]),
        (Mask::Float(m), true) => AttnMask::HeadFloat(m),
    }
}

fn run<const E: usize, const H: usize, const L: usize, T: Float, const BIAS: bool>(name: &str) {
    let case = case("attention_masks", name);
    case.expect_dtype::<T>();
    assert_eq!(case.options["num_heads"], H, "{name}");
    let mut layer = MultiheadAttention::<E, H, L, T, BIAS, false>::new();
    case.load(&mut layer);
    let (mask, per_head) = mask::<T, L>(case);
    let attn_mask = view(&mask, per_head);
    let padding: Option<Vec<[bool; L]>> = case.bools("key_padding_mask").map(|b| {
        b.chunks_exact(L)
            .map(|c| core::array::from_fn(|j| c[j]))
            .collect()
    });
    let x: Vec<[[T; E]; L]> = case.input("x");
    let mut y = vec![<[[T; E]; L]>::ZERO; x.len()];
    let saved = layer
        .forward_attn_mask(&x, attn_mask, padding.as_deref(), &mut y)
        .unwrap();
    let dy: Vec<[[T; E]; L]> = case.dy("y");
    let mut dx = vec![<[[T; E]; L]>::ZERO; x.len()];
    let mut grads = <MultiheadAttention<E, H, L, T, BIAS, false> as Parameters>::Grads::default();
    let mut dmask = vec![T::ZERO; L * L * if per_head { x.len() * H } else { 1 }];
    layer
        .backward_attn_mask(
            &x,
            attn_mask,
            padding.as_deref(),
            &saved,
            &dy,
            &mut dx,
            &mut grads,
            Some(&mut dmask),
        )
        .unwrap();
    let mut named = vec![("x".to_owned(), flat(&dx))];
    if matches!(mask, Mask::Float(_)) {
        named.push((
            "attn_mask".to_owned(),
            dmask.iter().map(|g| g.to_f64()).collect(),
        ));
    } else {
        assert!(
            dmask.iter().all(|&g| g == T::ZERO),
            "{name}: a bool mask has no gradient"
        );
    }
    named.extend(grads_by_key(&layer, &grads));
    let grads: Vec<(&str, Vec<f64>)> = named.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
    case.compare(&[("y", flat(&y))], &grads).finish(name);
}

macro_rules! mask_cases {
    ($($test:ident: $e:literal, $h:literal, $l:literal, $t:ty, $bias:literal;)*) => {
        $(
            #[test]
            fn $test() {
                run::<$e, $h, $l, $t, $bias>(stringify!($test));
            }
        )*

        #[test]
        fn every_reference_case_is_run() {
            check_table("attention_masks", &[$(stringify!($test)),*]);
        }
    };
}

mask_cases! {
    mha_f64_e8_h2_boolmask_n2_l5: 8, 2, 5, f64, true;
    mha_f64_e8_h2_boolmask_kpm_n2_l5: 8, 2, 5, f64, true;
    mha_f64_e12_h3_nobias_floatmask_n2_l4: 12, 3, 4, f64, false;
    mha_f64_e8_h2_floatmask_kpm_n3_l5: 8, 2, 5, f64, true;
    mha_f64_e8_h2_headfloatmask_n2_l4: 8, 2, 4, f64, true;
    mha_f64_e12_h4_headfloatmask_kpm_n2_l6: 12, 4, 6, f64, true;
    mha_f64_e6_h1_floatmask_neg1e4_n2_l5: 6, 1, 5, f64, true;
    mha_f64_e16_h4_nobias_headboolmask_kpm_n3_l3: 16, 4, 3, f64, false;
    mha_f32_e8_h2_boolmask_kpm_n2_l5: 8, 2, 5, f32, true;
    mha_f32_e8_h2_floatmask_kpm_n3_l5: 8, 2, 5, f32, true;
    mha_f32_e12_h4_headfloatmask_kpm_n2_l6: 12, 4, 6, f32, true;
}

/// With no mask at all (an all-false bool mask, an all-zero float mask) the
/// general pass is the plain one, bit for bit; and the checks refuse before
/// writing anything.
#[test]
fn an_empty_mask_is_no_mask_and_bad_masks_are_refused() {
    let name = "mha_f64_e8_h2_boolmask_n2_l5";
    let case = case("attention_masks", name);
    let mut layer = MultiheadAttention::<8, 2, 5, f64, true, false>::new();
    case.load(&mut layer);
    let x: Vec<[[f64; 8]; 5]> = case.input("x");
    let mut plain = vec![<[[f64; 8]; 5]>::ZERO; 2];
    layer.forward_eval(&x, &mut plain).unwrap();
    for m in [
        AttnMask::Bool(&[[false; 5]; 5]),
        AttnMask::Float(&[[0.0; 5]; 5]),
    ] {
        let mut y = vec![<[[f64; 8]; 5]>::ZERO; 2];
        layer.forward_attn_mask(&x, m, None, &mut y).unwrap();
        assert_eq!(y, plain);
    }
    let mut y = vec![[[7.0; 8]; 5]; 2];
    let mut full = [[false; 5]; 5];
    full[3] = [true; 5];
    let e = layer.forward_attn_mask(&x, AttnMask::Bool(&full), None, &mut y);
    assert_eq!(e, Err(NormError::FullyMaskedQuery { row: 0, query: 3 }));
    let mut nan = [[0.0; 5]; 5];
    nan[1][2] = f64::NAN;
    let e = layer.forward_attn_mask(&x, AttnMask::Float(&nan), None, &mut y);
    assert_eq!(e, Err(NormError::NonFiniteMask { index: 7 }));
    let heads = [[[false; 5]; 5]; 3];
    let e = layer.forward_attn_mask(&x, AttnMask::HeadBool(&heads), None, &mut y);
    assert!(
        matches!(
            e,
            Err(NormError::RowCountMismatch {
                argument: "attn_mask",
                expected: 4,
                found: 3
            })
        ),
        "{e:?}"
    );
    // -inf masks a key as a bool does.
    let mut ninf = [[0.0; 5]; 5];
    let mut as_bool = [[false; 5]; 5];
    ninf[0][1] = f64::NEG_INFINITY;
    as_bool[0][1] = true;
    let (mut a, mut b) = (
        vec![<[[f64; 8]; 5]>::ZERO; 2],
        vec![<[[f64; 8]; 5]>::ZERO; 2],
    );
    layer
        .forward_attn_mask(&x, AttnMask::Float(&ninf), None, &mut a)
        .unwrap();
    layer
        .forward_attn_mask(&x, AttnMask::Bool(&as_bool), None, &mut b)
        .unwrap();
    assert_eq!(a, b);
    assert!(
        y.iter()
            .all(|r| r.iter().all(|t| t.iter().all(|&v| v == 7.0))),
        "nothing written on refusal"
    );
}

/// Under the causal mask an `attn_mask` adds to it: masking key 0 for
/// query 0 leaves that query no key at all (the causal mask hides the
/// rest), which is refused; elsewhere the pass is the causal one with the
/// mask on top. A refused backward writes nothing.
#[test]
fn with_the_causal_mask_and_refused_backward() {
    let name = "mha_f64_e8_h2_boolmask_n2_l5";
    let case = case("attention_masks", name);
    let mut causal = MultiheadAttention::<8, 2, 5, f64, true, true>::new();
    case.load(&mut causal);
    let x: Vec<[[f64; 8]; 5]> = case.input("x");
    let mut m = [[false; 5]; 5];
    m[0][0] = true;
    let mut y = vec![<[[f64; 8]; 5]>::ZERO; 2];
    let e = causal.forward_attn_mask(&x, AttnMask::Bool(&m), None, &mut y);
    assert_eq!(e, Err(NormError::FullyMaskedQuery { row: 0, query: 0 }));
    // The causal layer with an empty mask is the causal layer.
    let mut plain = vec![<[[f64; 8]; 5]>::ZERO; 2];
    causal.forward_eval(&x, &mut plain).unwrap();
    let saved = causal
        .forward_attn_mask(&x, AttnMask::Float(&[[0.0; 5]; 5]), None, &mut y)
        .unwrap();
    assert_eq!(y, plain);
    // A gradient buffer of the wrong size: refused, nothing written.
    let mut dx = vec![[[3.0; 8]; 5]; 2];
    let mut grads = <MultiheadAttention<8, 2, 5, f64, true, true> as Parameters>::Grads::default();
    let before = grads.clone();
    let mut short = vec![0.0; 24];
    let e = causal.backward_attn_mask(
        &x,
        AttnMask::Float(&[[0.0; 5]; 5]),
        None,
        &saved,
        &y,
        &mut dx,
        &mut grads,
        Some(&mut short),
    );
    assert!(
        matches!(
            e,
            Err(NormError::RowCountMismatch {
                argument: "attn_mask_grad",
                expected: 25,
                found: 24
            })
        ),
        "{e:?}"
    );
    assert!(
        dx.iter()
            .all(|r| r.iter().all(|t| t.iter().all(|&v| v == 3.0)))
    );
    assert_eq!(grads, before);
    assert!(short.iter().all(|&g| g == 0.0));
}

/// The encoder block under a general `src_mask`: a bool mask that is the
/// causal one, with a key padding mask, gives bit for bit what the causal
/// block gives (which `attention_golden.rs` checks against PyTorch's on
/// this very case), forward and backward.
#[test]
fn encoder_block_with_a_general_mask() {
    use constnorm::nn::{ReluFn, TransformerEncoderLayer};
    type Open = TransformerEncoderLayer<8, 2, 16, 5, f64, ReluFn, true, false>;
    type Causal = TransformerEncoderLayer<8, 2, 16, 5, f64, ReluFn, true, true>;
    let case = case("attention", "tel_f64_d8_h2_ff16_pre_relu_causal_kpm_n2_l5");
    let (mut open, mut causal) = (Open::new(), Causal::new());
    case.load(&mut open);
    case.load(&mut causal);
    let x: Vec<[[f64; 8]; 5]> = case.input("x");
    let padding: Vec<[bool; 5]> = case
        .bools("src_key_padding_mask")
        .unwrap()
        .chunks_exact(5)
        .map(|c| core::array::from_fn(|j| c[j]))
        .collect();
    let mask: [[bool; 5]; 5] = core::array::from_fn(|i| core::array::from_fn(|j| j > i));
    let (mut y1, mut y2) = (
        vec![<[[f64; 8]; 5]>::ZERO; 2],
        vec![<[[f64; 8]; 5]>::ZERO; 2],
    );
    let s1 = open
        .forward_attn_mask(&x, AttnMask::Bool(&mask), Some(&padding), &mut y1)
        .unwrap();
    let s2 = causal.forward_masked(&x, &padding, &mut y2).unwrap();
    assert_eq!(y1, y2);
    let dy: Vec<[[f64; 8]; 5]> = case.dy("y");
    let (mut dx1, mut dx2) = (
        vec![<[[f64; 8]; 5]>::ZERO; 2],
        vec![<[[f64; 8]; 5]>::ZERO; 2],
    );
    let mut g1 = <Open as Parameters>::Grads::default();
    let mut g2 = <Causal as Parameters>::Grads::default();
    open.backward_attn_mask(
        &x,
        AttnMask::Bool(&mask),
        Some(&padding),
        &s1,
        &dy,
        &mut dx1,
        &mut g1,
    )
    .unwrap();
    causal
        .backward_masked(&x, &padding, &s2, &dy, &mut dx2, &mut g2)
        .unwrap();
    assert_eq!(dx1, dx2);
    assert_eq!(grads_by_key(&open, &g1), grads_by_key(&causal, &g2));
    // And a float mask moves the output.
    let soft: [[f64; 5]; 5] =
        core::array::from_fn(|i| core::array::from_fn(|j| if j > i { -2.0 } else { 0.0 }));
    open.forward_attn_mask(&x, AttnMask::Float(&soft), Some(&padding), &mut y1)
        .unwrap();
    assert_ne!(y1, y2);
}
