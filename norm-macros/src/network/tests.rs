//! The expansion of a small network, checked in (`snapshots/network.txt`), so
//! a change to the generated code shows in review as a diff of readable Rust.
//! Rewrite the file with `SNAPSHOT=overwrite cargo test -p norm-macros` and
//! read the diff.

use proc_macro2::TokenStream;
use std::path::Path;
use std::str::FromStr;

const MLP: &str = "
/// Two layers are enough for every case: a first and a last layer, and a
/// connection between them.
#[derive(Default)]
pub struct Mlp {
    fc: Linear<4, 8>,
    act: Relu<8>,
}
";

#[test]
fn expansion_matches_snapshot() {
    let item = TokenStream::from_str(MLP).expect("item tokens");
    let out = super::network(TokenStream::new(), item);
    let file = syn::parse2::<syn::File>(out).expect("items");
    let text = prettyplease::unparse(&file);
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("snapshots/network.txt");
    if std::env::var_os("SNAPSHOT").is_some_and(|v| v == "overwrite") {
        std::fs::write(&path, &text).expect("write the snapshot");
    }
    let expected = std::fs::read_to_string(&path)
        .expect("no snapshot: write it with SNAPSHOT=overwrite and read it");
    let first_change = text
        .lines()
        .zip(expected.lines())
        .position(|(a, b)| a != b)
        .map_or_else(|| "in length".to_owned(), |i| format!("at line {}", i + 1));
    assert!(
        text == expected,
        "the #[network] expansion differs from {} {first_change}; \
         if that is intended, rewrite it with SNAPSHOT=overwrite and review the diff",
        path.display()
    );
}
