//! PyTorch reference vectors, step by step (tolerances in
//! tests/common/golden.rs). The table at the end has a line per reference
//! case and its float32 twin: the names of their two tests (each case's name
//! made an identifier, `golden::test_name`) and the `#[normalize]` arguments,
//! but dtype, of the module PyTorch ran.
//!
//! The table is kept by hand: after changing tests/golden/*.json, paste the
//! lines `python3 tests/golden/generate.py` prints. The test
//! `every_reference_case_is_run_or_listed` fails while the table and the
//! JSON files disagree on the cases.

mod common;

use common::golden;
use constnorm::normalize;

/// `f64_test, f32_test: (arguments),` per reference case and its float32
/// twin: two tests, each running its case through
/// `#[normalize(arguments, dtype = ...)]`; and `TABLE`, every test's name.
macro_rules! cases {
    ($($f64:ident, $f32:ident: ($($argument:tt)*),)*) => {
        const TABLE: &[&str] = &[$(stringify!($f64), stringify!($f32)),*];
        $(
            case!($f64, [$($argument)*, dtype = f64]);
            case!($f32, [$($argument)*, dtype = f32]);
        )*
    };
}

/// One test: the reference case `test` through `#[normalize(arguments)]`.
macro_rules! case {
    ($test:ident, [$($argument:tt)*]) => {
        #[test]
        fn $test() {
            #[normalize($($argument)*)]
            struct Layer;
            golden::check(stringify!($test), Layer::new(), Layer::EPS);
        }
    };
}

/// Every reference file is read, every case in it is run by the table, and
/// every table line runs a case.
#[test]
fn every_reference_case_is_run_or_listed() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden");
    let mut files: Vec<String> = std::fs::read_dir(dir)
        .expect(dir)
        .map(|entry| entry.expect(dir).file_name().into_string().expect(dir))
        .filter_map(|name| name.strip_suffix(".json").map(str::to_owned))
        .collect();
    files.sort_unstable();
    assert_eq!(files, golden::FILES, "golden::FILES is not {dir}/*.json");

    let json: Vec<String> = golden::cases()
        .map(|c| golden::test_name(&c.name))
        .collect();
    let not_run: Vec<&str> = json
        .iter()
        .map(String::as_str)
        .filter(|t| !TABLE.contains(t))
        .collect();
    let unknown: Vec<&str> = TABLE
        .iter()
        .copied()
        .filter(|t| !json.iter().any(|j| j == t))
        .collect();
    assert!(
        not_run.is_empty() && unknown.is_empty(),
        "tests/golden.rs is stale (python3 tests/golden/generate.py prints its table): \
         cases not in the table {not_run:?}, table lines without a case {unknown:?}"
    );
    assert_eq!(
        json.len(),
        TABLE.len(),
        "two reference cases have the same test name"
    );
}

cases! {
    batch_f64_4x3_normal_m0_1, batch_f32_4x3_normal_m0_1: (batch, dims = 3, eps = 1e-05, momentum = 0.1),
    batch_f64_2x16_normal_m0_1, batch_f32_2x16_normal_m0_1: (batch, dims = 16, eps = 1e-05, momentum = 0.1),
    batch_f64_32x16_normal_m0_1, batch_f32_32x16_normal_m0_1: (batch, dims = 16, eps = 1e-05, momentum = 0.1),
    batch_f64_8x16_normal_mnone, batch_f32_8x16_normal_mnone: (batch, dims = 16, eps = 1e-05, momentum = none),
    batch_f64_8x4x10_normal_m0_1, batch_f32_8x4x10_normal_m0_1: (batch, dims = 4, spatial = 10, eps = 1e-05, momentum = 0.1),
    batch_f64_2x3x4x4_normal_m0_1, batch_f32_2x3x4x4_normal_m0_1: (batch, dims = 3, spatial = [4, 4], eps = 1e-05, momentum = 0.1),
    batch_f64_4x16x8x8_normal_m0_3, batch_f32_4x16x8x8_normal_m0_3: (batch, dims = 16, spatial = [8, 8], eps = 1e-05, momentum = 0.3),
    batch_f64_8x5_normal_m0_1_noaffine, batch_f32_8x5_normal_m0_1_noaffine: (batch, dims = 5, eps = 1e-05, affine = false, momentum = 0.1),
    batch_f64_8x5_normal_m0_1_notrack, batch_f32_8x5_normal_m0_1_notrack: (batch, dims = 5, eps = 1e-05, track_running_stats = false),
    batch_f64_16x8_constant_m0_1, batch_f32_16x8_constant_m0_1: (batch, dims = 8, eps = 1e-05, momentum = 0.1),
    batch_f64_64x8_offset_m0_1, batch_f32_64x8_offset_m0_1: (batch, dims = 8, eps = 1e-05, momentum = 0.1),
    group_f64_2x6x4x4_g3, group_f32_2x6x4x4_g3: (group, dims = 6, spatial = [4, 4], groups = 3, eps = 1e-05),
    group_f64_4x8x5_g2, group_f32_4x8x5_g2: (group, dims = 8, spatial = 5, groups = 2, eps = 1e-05),
    group_f64_2x16x3x3_g16, group_f32_2x16x3x3_g16: (group, dims = 16, spatial = [3, 3], groups = 16, eps = 1e-05),
    group_f64_2x16x3x3_g1, group_f32_2x16x3x3_g1: (group, dims = 16, spatial = [3, 3], groups = 1, eps = 1e-05),
    instance_f64_2x3x4x4, instance_f32_2x3x4x4: (instance, dims = 3, spatial = [4, 4], eps = 1e-05),
    instance_f64_3x4x10_affine, instance_f32_3x4x10_affine: (instance, dims = 4, spatial = 10, eps = 1e-05, affine = true),
    layer_f64_4x3_normal, layer_f32_4x3_normal: (layer, dims = 3, eps = 1e-05),
    layer_f64_4x3_normal_nobias, layer_f32_4x3_normal_nobias: (layer, dims = 3, eps = 1e-05, bias = false),
    layer_f64_4x3_normal_noaffine, layer_f32_4x3_normal_noaffine: (layer, dims = 3, eps = 1e-05, affine = false),
    layer_f64_1x3_normal, layer_f32_1x3_normal: (layer, dims = 3, eps = 1e-05),
    layer_f64_8x16_normal, layer_f32_8x16_normal: (layer, dims = 16, eps = 1e-05),
    layer_f64_8x16_normal_nobias, layer_f32_8x16_normal_nobias: (layer, dims = 16, eps = 1e-05, bias = false),
    layer_f64_8x16_normal_noaffine, layer_f32_8x16_normal_noaffine: (layer, dims = 16, eps = 1e-05, affine = false),
    layer_f64_32x64_normal, layer_f32_32x64_normal: (layer, dims = 64, eps = 1e-05),
    layer_f64_4x768_normal, layer_f32_4x768_normal: (layer, dims = 768, eps = 1e-05),
    layer_f64_2x5x16_normal, layer_f32_2x5x16_normal: (layer, dims = 16, eps = 1e-05),
    layer_f64_2x3x4x8_normal, layer_f32_2x3x4x8_normal: (layer, dims = [4, 8], eps = 1e-05),
    layer_f64_3x1_normal, layer_f32_3x1_normal: (layer, dims = 1, eps = 1e-05),
    layer_f64_4x16_constant, layer_f32_4x16_constant: (layer, dims = 16, eps = 1e-05),
    layer_f64_8x32_offset, layer_f32_8x32_offset: (layer, dims = 32, eps = 1e-05),
    layer_f64_4x16_tiny, layer_f32_4x16_tiny: (layer, dims = 16, eps = 1e-05),
    rms_f64_4x3_eps1e_06, rms_f32_4x3_eps1e_06: (rms, dims = 3, eps = 1e-06),
    rms_f64_8x64_eps1e_06, rms_f32_8x64_eps1e_06: (rms, dims = 64, eps = 1e-06),
    rms_f64_2x5x16_epsnone, rms_f32_2x5x16_epsnone: (rms, dims = 16),
    rms_f64_2x3x4x8_eps1e_05, rms_f32_2x3x4x8_eps1e_05: (rms, dims = [4, 8], eps = 1e-05),
    rms_f64_4x16_eps1e_06, rms_f32_4x16_eps1e_06: (rms, dims = 16, eps = 1e-06),
}
