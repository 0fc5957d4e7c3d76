//! Every name the attribute understands, in one place.

/// `#[normalize(batch, ...)]`
pub const BATCH: &str = "batch";
/// `#[normalize(layer, ...)]`
pub const LAYER: &str = "layer";
/// The kinds, in the order error messages list them.
pub const KINDS: &[&str] = &[BATCH, LAYER];

pub const DIMS: &str = "dims";
pub const EPS: &str = "eps";
pub const MOMENTUM: &str = "momentum";
pub const DTYPE: &str = "dtype";
pub const CRATE: &str = "crate";
/// The `name = value` arguments, in the order error messages list them.
pub const OPTIONS: &[&str] = &[DIMS, EPS, MOMENTUM, DTYPE, CRATE];

/// `momentum = none`: PyTorch's cumulative moving average (`momentum=None`).
pub const NONE: &str = "none";
/// PyTorch spells it `None`; accepted as well.
pub const NONE_PYTHON: &str = "None";

pub const F32: &str = "f32";
pub const F64: &str = "f64";
pub const DTYPES: &[&str] = &[F32, F64];

/// Names users bring from PyTorch or habit, and ours for the same thing. Too
/// far from ours for a spelling suggestion, so they are listed.
pub const ALIASES: &[(&str, &str)] = &[
    ("normalized_shape", DIMS),
    ("num_features", DIMS),
    ("features", DIMS),
    ("size", DIMS),
    ("epsilon", EPS),
    ("type", DTYPE),
    ("BatchNorm1d", BATCH),
    ("LayerNorm", LAYER),
    ("batch_norm", BATCH),
    ("layer_norm", LAYER),
    ("batchnorm", BATCH),
    ("layernorm", LAYER),
];

/// Traits the generated layer implements itself, so a user derive of them
/// would conflict.
pub const GENERATED_TRAITS: &[&str] = &["Clone", "Debug", "PartialEq", "Default"];
