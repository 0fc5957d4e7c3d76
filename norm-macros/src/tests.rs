//! The macro never panics and always emits valid items: on random attribute
//! arguments and random items, the expansion parses as Rust, and carries a
//! `compile_error!` exactly when the input was wrong.

use crate::expand::normalize;
use proc_macro2::TokenStream;
use proptest::prelude::*;
use std::str::FromStr;

/// Pieces of attribute arguments, valid and not.
const WORDS: &[&str] = &[
    "batch",
    "layer",
    "bacth",
    "group",
    "dims",
    "eps",
    "momentum",
    "dtype",
    "crate",
    "none",
    "None",
    "f32",
    "f64",
    "f16",
    "=",
    "=",
    ",",
    ",",
    "0",
    "1",
    "3",
    "16",
    "-2",
    "1e-5",
    "-1e-5",
    "1e999",
    "0.1",
    "1.5",
    "-0.1",
    "3.0",
    "\"f32\"",
    "::constnorm",
    "crate::x",
    "[4, 8]",
    "(4)",
    "-",
    "N",
    "dims(4)",
    "18446744073709551616",
    "340282366920938463463374607431768211456",
];

const ITEMS: &[&str] = &[
    "pub struct L;",
    "struct L;",
    "pub(crate) struct L;",
    "#[derive(Copy)] struct L;",
    "#[derive(Clone)] struct L;",
    "/// docs\n#[cfg(test)] struct L;",
    "struct L { x: f32 }",
    "struct L(f32);",
    "struct L<T>(T);",
    "enum L { A }",
    "fn l() {}",
    "impl L {}",
    "const L: u8 = 1;",
    "struct",
];

fn attribute() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(WORDS), 0..12).prop_map(|w| w.join(" "))
}

fn expand(attr: &str, item: &str) -> TokenStream {
    let attr = TokenStream::from_str(attr).expect("attribute tokens");
    let item = TokenStream::from_str(item).expect("item tokens");
    normalize(attr, item)
}

fn has_compile_error(tokens: &TokenStream) -> bool {
    tokens.to_string().contains("compile_error")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn never_panics_and_emits_items(attr in attribute(), item in prop::sample::select(ITEMS)) {
        let out = expand(&attr, item);
        if item != "struct" {
            // The item comes back (generated or unchanged) beside any error.
            prop_assert!(syn::parse2::<syn::File>(out.clone()).is_ok(), "not Rust items: {out}");
        }
        let valid_item = ["pub struct L;", "struct L;", "pub(crate) struct L;", "#[derive(Copy)] struct L;", "/// docs\n#[cfg(test)] struct L;"].contains(&item);
        if !valid_item {
            prop_assert!(has_compile_error(&out), "no error for item {item}");
        }
    }
}

#[test]
fn valid_attributes_expand_without_errors() {
    for attr in [
        "layer, dims = 3",
        "batch, dims = 16, momentum = 0.1, eps = 1e-5",
        "batch, dims = 4, momentum = none, dtype = f64",
        "dims = 4, layer, crate = \"::x::y\"",
        "batch, dims = 1, momentum = 0, eps = 1",
        "layer, dims = [4, 8], bias = false",
        "rms, dims = [2, 3, 4, 5], affine = false",
        "batch, dims = 3, spatial = [2, 4, 4], track_running_stats = false, affine = false",
        "group, dims = 6, groups = 3, spatial = [4, 4]",
        "instance, dims = 3, spatial = 10, affine = true, track_running_stats = true, momentum = 0.5",
    ] {
        let out = expand(attr, "pub struct L;");
        assert!(!has_compile_error(&out), "{attr}: {out}");
        let file = syn::parse2::<syn::File>(out).expect("items");
        assert_eq!(
            file.items.len(),
            9,
            "{attr}: struct, inherent impl, Default, serde, StateDict, InPlace, Parameters, Normalization, Layer"
        );
    }
}

#[test]
fn invalid_attributes_report_every_problem() {
    let out = expand(
        "bacth, dims = 0, eps = -1.0, momentum = 2.0, dtype = f16, colour = 1",
        "struct L;",
    );
    let errors = out.to_string().matches("compile_error").count();
    assert_eq!(errors, 6, "{out}");
}

/// The generated code is the same size whatever `dims` is: the macro emits a
/// struct and thin impls that call const-generic kernels, so nothing is
/// unrolled per feature (the compiler unrolls small constant loops itself).
/// Size is counted in tokens (a literal is one token however many digits it
/// has; formatted lines would wrap differently). Also prints formatted lines
/// and the expansion time per attribute, for BENCHMARKS.md
/// (`cargo test -p norm-macros --release --lib -- --nocapture expansion`).
#[test]
fn expansion_size_does_not_grow_with_dims() {
    fn tokens(stream: TokenStream) -> usize {
        stream
            .into_iter()
            .map(|t| match t {
                proc_macro2::TokenTree::Group(g) => 1 + tokens(g.stream()),
                _ => 1,
            })
            .sum()
    }
    for kind in ["layer", "batch", "rms", "group, groups = 1, spatial = 2"] {
        let mut sizes = Vec::new();
        for dims in [3, 64, 4096] {
            let attr = format!("{kind}, dims = {dims}");
            let out = expand(&attr, "pub struct L;");
            let count = tokens(out.clone());
            let file = syn::parse2::<syn::File>(out).expect("items");
            let text = prettyplease::unparse(&file);
            let runs = 200;
            let start = std::time::Instant::now();
            for _ in 0..runs {
                std::hint::black_box(expand(&attr, "pub struct L;"));
            }
            let micros = start.elapsed().as_secs_f64() * 1e6 / f64::from(runs);
            println!(
                "expansion {kind:<30} dims {dims:>4}: {count:>5} tokens, {:>3} lines, {micros:.1} us",
                text.lines().count()
            );
            sizes.push(count);
        }
        assert!(sizes.iter().all(|t| *t == sizes[0]), "{kind}: {sizes:?}");
    }
}

/// Pieces of `#[network]` arguments.
const NETWORK_WORDS: &[&str] = &[
    "sequential",
    "sequentail",
    "crate",
    "=",
    ",",
    "\"::x\"",
    "::constnorm",
    "5",
    "(a)",
    "dims",
];

/// Field lists for `#[network]`, valid and not.
const NETWORK_ITEMS: &[&str] = &[
    "struct M { a: A }",
    "pub struct M { a: A, b: B, c: C }",
    "struct M { r#type: A, b: B }",
    "struct M {}",
    "struct M;",
    "struct M(A, B);",
    "struct M<T> { a: T }",
    "struct M where A: Copy { a: A }",
    "struct M { #[cfg(x)] a: A }",
    "enum M { A }",
    "fn m() {}",
];

fn network_expand(attr: &str, item: &str) -> TokenStream {
    let attr = TokenStream::from_str(attr).expect("attribute tokens");
    let item = TokenStream::from_str(item).expect("item tokens");
    crate::network::network(attr, item)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn network_never_panics_and_emits_items(
        words in prop::collection::vec(prop::sample::select(NETWORK_WORDS), 0..6),
        item in prop::sample::select(NETWORK_ITEMS),
    ) {
        let attr = words.join(" ");
        let out = network_expand(&attr, item);
        prop_assert!(syn::parse2::<syn::File>(out.clone()).is_ok(), "not Rust items: {out}");
        let valid_item = item.starts_with("struct M { a") || item.starts_with("pub struct") || item.contains("r#type");
        let known_valid = ["", "sequential", "crate = ::constnorm", "sequential , crate = \"::x\""].contains(&attr.as_str());
        let surely_wrong = words.iter().any(|w| ["5", "(a)"].contains(w));
        if !valid_item || surely_wrong {
            prop_assert!(has_compile_error(&out), "no error for {} on {}", attr, item);
        }
        if valid_item && known_valid {
            prop_assert!(!has_compile_error(&out), "error for {} on {}: {}", attr, item, out);
        }
    }
}

#[test]
fn network_expands_every_connection() {
    let out = network_expand("", "struct M { a: A, b: B, c: C }");
    let file = syn::parse2::<syn::File>(out).expect("items");
    // struct, 2 connection traits + their impls, workspace + impl + Default
    // + InPlace + new_boxed, the network's InPlace + new_boxed, grads +
    // its InPlace + new_boxed + Gradients, Parameters, StateDict, Network.
    assert_eq!(file.items.len(), 19);
}
