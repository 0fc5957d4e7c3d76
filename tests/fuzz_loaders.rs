//! The loaders under arbitrary input (a fuzz harness on stable Rust, with
//! proptest): mutations of a valid safetensors file (flipped bits, cut
//! files, headers that claim huge lengths, sizes or offsets, random bytes)
//! and of a valid JSON document go to `StateDictFile::parse` / `load` and to
//! serde. Never a panic, and a refused load leaves the layer unchanged.
//!
//! CI runs the default budget (a few thousand inputs per test); a long run:
//!
//! ```text
//! PROPTEST_CASES=200000 cargo test --release --test fuzz_loaders
//! ```

use constnorm::nn::{Gru, Linear, MultiheadAttention, init_seeded};
use constnorm::safetensors::{LoadOptions, StateDictFile, StateDictWriter};
use constnorm::{Layer, normalize};
use proptest::prelude::*;

#[normalize(batch, dims = 4)]
struct Bn;

/// A trained state, saved as PyTorch's layout.
fn valid_file() -> (Vec<u8>, Bn, Linear<3, 4>) {
    let mut bn = Bn::new();
    let mut y = [[0.0; 4]; 3];
    bn.forward_train(
        &[
            [1.0, 2.0, 3.0, 4.0],
            [0.0, 1.0, -1.0, 2.0],
            [2.0, 2.0, 0.5, 1.0],
        ],
        &mut y,
    )
    .unwrap();
    let mut fc = Linear::<3, 4>::new();
    init_seeded(&mut fc, 3);
    let mut writer = StateDictWriter::new();
    writer.add("bn", &bn).unwrap();
    writer.add("fc", &fc).unwrap();
    (writer.to_bytes().unwrap(), bn, fc)
}

/// Inputs per test: `PROPTEST_CASES`, or 3000.
fn budget() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3000)
}

/// One mutation of a file.
#[derive(Clone, Debug)]
enum Mutation {
    Flip(usize, u8),
    Truncate(usize),
    Overwrite(usize, Vec<u8>),
    HeaderLength(u64),
    Random(Vec<u8>),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 1..=255_u8).prop_map(|(i, b)| Mutation::Flip(i, b)),
        any::<usize>().prop_map(Mutation::Truncate),
        (any::<usize>(), prop::collection::vec(any::<u8>(), 1..16))
            .prop_map(|(i, b)| Mutation::Overwrite(i, b)),
        prop_oneof![Just(u64::MAX), Just(1 << 40), 0..4096_u64].prop_map(Mutation::HeaderLength),
        prop::collection::vec(any::<u8>(), 0..256).prop_map(Mutation::Random),
    ]
}

fn apply(bytes: &[u8], m: &Mutation) -> Vec<u8> {
    let mut out = bytes.to_vec();
    let len = out.len().max(1);
    match m {
        Mutation::Flip(i, b) => {
            if let Some(o) = out.get_mut(i % len) {
                *o ^= b;
            }
        }
        Mutation::Truncate(n) => out.truncate(n % len),
        Mutation::Overwrite(i, b) => {
            for (k, v) in b.iter().enumerate() {
                if let Some(o) = out.get_mut(i % len + k) {
                    *o = *v;
                }
            }
        }
        Mutation::HeaderLength(n) => {
            out.resize(out.len().max(8), b' ');
            out[..8].copy_from_slice(&n.to_le_bytes());
        }
        Mutation::Random(r) => out.clone_from(r),
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: budget(), ..ProptestConfig::default() })]

    #[test]
    fn mutated_safetensors_files_never_panic_and_refusals_change_nothing(ms in prop::collection::vec(mutation(), 1..4)) {
        let (bytes, _, _) = valid_file();
        let bad = ms.iter().fold(bytes, |b, m| apply(&b, m));
        let (mut bn, mut fc, mut gru) = (Bn::new(), Linear::<3, 4>::new(), Gru::<4, 4, 1>::new());
        let before = (format!("{bn:?}"), format!("{fc:?}"), format!("{gru:?}"));
        if let Ok(file) = StateDictFile::parse(&bad) {
            let strict = LoadOptions::default();
            if file.load("bn", &mut bn, strict).is_err() {
                prop_assert_eq!(&format!("{bn:?}"), &before.0);
            }
            if file.load("fc", &mut fc, strict).is_err() {
                prop_assert_eq!(&format!("{fc:?}"), &before.1);
            }
            let lenient = LoadOptions { strict: false, convert_dtype: true };
            if file.load("gru", &mut gru, lenient).is_err() {
                prop_assert_eq!(&format!("{gru:?}"), &before.2);
            }
            let _ = file.keys();
        }
    }

    #[test]
    fn mutated_json_never_panics(ms in prop::collection::vec(mutation(), 1..4)) {
        let mut mha = MultiheadAttention::<4, 2, 3>::new();
        init_seeded(&mut mha, 1);
        let docs = [
            serde_json::to_vec(&valid_file().1).unwrap(),
            serde_json::to_vec(&mha).unwrap(),
        ];
        for doc in docs {
            let bad = ms.iter().fold(doc, |b, m| apply(&b, m));
            let _ = serde_json::from_slice::<Bn>(&bad);
            let _ = serde_json::from_slice::<MultiheadAttention<4, 2, 3>>(&bad);
            let _ = serde_json::from_slice::<Gru<4, 4, 1>>(&bad);
        }
    }
}
