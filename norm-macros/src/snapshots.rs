//! Expansion snapshots: the code a few representative attributes generate,
//! pretty-printed and checked in under `norm-macros/snapshots/`, so a change
//! to the expansion shows in review as a diff of generated code.
//!
//! A test fails when the expansion differs from its snapshot. After an
//! intended change, regenerate them and read the diff:
//! `UPDATE_SNAPSHOTS=1 cargo test -p norm-macros snapshots`.

use proc_macro2::TokenStream;
use std::str::FromStr;

/// `(snapshot, attribute, arguments, item)`.
const CASES: &[(&str, &str, &str, &str)] = &[
    (
        "batch_spatial_cumulative",
        "normalize",
        "batch, dims = 16, spatial = [8, 8], momentum = none",
        "/// A batch norm after a convolution.\npub struct Bn2d;",
    ),
    (
        "layer_two_dims_no_bias",
        "normalize",
        "layer, dims = [4, 8], bias = false, dtype = f64",
        "pub struct TokenNorm;",
    ),
    (
        "group",
        "normalize",
        "group, dims = 6, groups = 3, spatial = 10",
        "pub struct Gn;",
    ),
    (
        "layer_named_constants",
        "normalize",
        "layer, dims = [SEQ, 2 * D]",
        "pub struct Tokens;",
    ),
    (
        "network_residual_nested",
        "network",
        "residual",
        "pub struct Block { fc: Linear<4, 4>, #[nested] inner: Inner, act: Relu<4> }",
    ),
    (
        "network",
        "network",
        "",
        "#[derive(Default)]\npub struct Mlp { fc1: Linear<4, 16>, bn1: Bn16, act1: Relu<16>, out: Linear<16, 3> }",
    ),
];

fn expand(attribute: &str, args: &str, item: &str) -> String {
    let args = TokenStream::from_str(args).expect("attribute tokens");
    let item = TokenStream::from_str(item).expect("item tokens");
    let out = match attribute {
        "normalize" => crate::expand::normalize(args, item),
        _ => crate::network::network(args, item),
    };
    let file = syn::parse2::<syn::File>(out).expect("the expansion is Rust items");
    prettyplease::unparse(&file)
}

#[test]
fn snapshots() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/snapshots");
    let update = std::env::var_os("UPDATE_SNAPSHOTS").is_some();
    let mut stale = Vec::new();
    for (name, attribute, args, item) in CASES {
        let text = format!(
            "// #[{attribute}({args})]\n// {}\n// Regenerate: UPDATE_SNAPSHOTS=1 cargo test -p norm-macros snapshots\n\n{}",
            item.replace('\n', "\n// "),
            expand(attribute, args, item)
        );
        let path = format!("{dir}/{name}.snap");
        if update {
            std::fs::write(&path, &text).expect("writing the snapshot");
        } else if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
            stale.push(path);
        }
    }
    assert!(
        stale.is_empty(),
        "the expansion changed for {stale:?}: if intended, run \
         `UPDATE_SNAPSHOTS=1 cargo test -p norm-macros snapshots` and review the diff"
    );
}
