//! Every name the attribute understands, in one place.

pub const BATCH: &str = "batch";
pub const LAYER: &str = "layer";
pub const RMS: &str = "rms";
pub const GROUP: &str = "group";
pub const INSTANCE: &str = "instance";
/// The kinds, in the order error messages list them.
pub const KINDS: &[&str] = &[BATCH, LAYER, RMS, GROUP, INSTANCE];

pub const DIMS: &str = "dims";
pub const SPATIAL: &str = "spatial";
pub const GROUPS: &str = "groups";
pub const EPS: &str = "eps";
pub const MOMENTUM: &str = "momentum";
pub const AFFINE: &str = "affine";
pub const BIAS: &str = "bias";
pub const TRACK: &str = "track_running_stats";
pub const DTYPE: &str = "dtype";
pub const CRATE: &str = "crate";
/// The `name = value` arguments, in the order error messages list them.
pub const OPTIONS: &[&str] = &[
    DIMS, SPATIAL, GROUPS, EPS, MOMENTUM, AFFINE, BIAS, TRACK, DTYPE, CRATE,
];

/// Which kinds each option applies to (options absent here apply to all).
pub const APPLIES_TO: &[(&str, &[&str])] = &[
    (SPATIAL, &[BATCH, GROUP, INSTANCE]),
    (GROUPS, &[GROUP]),
    (MOMENTUM, &[BATCH, INSTANCE]),
    (BIAS, &[LAYER, RMS]),
    (TRACK, &[BATCH, INSTANCE]),
];

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
    ("num_channels", DIMS),
    ("channels", DIMS),
    ("features", DIMS),
    ("size", DIMS),
    ("shape", DIMS),
    ("num_groups", GROUPS),
    ("epsilon", EPS),
    ("elementwise_affine", AFFINE),
    ("track", TRACK),
    ("track_stats", TRACK),
    ("running_stats", TRACK),
    ("type", DTYPE),
    ("BatchNorm1d", BATCH),
    ("BatchNorm2d", BATCH),
    ("BatchNorm3d", BATCH),
    ("LayerNorm", LAYER),
    ("RMSNorm", RMS),
    ("GroupNorm", GROUP),
    ("InstanceNorm1d", INSTANCE),
    ("InstanceNorm2d", INSTANCE),
    ("InstanceNorm3d", INSTANCE),
    ("batch_norm", BATCH),
    ("layer_norm", LAYER),
    ("rms_norm", RMS),
    ("group_norm", GROUP),
    ("instance_norm", INSTANCE),
    ("batchnorm", BATCH),
    ("layernorm", LAYER),
    ("rmsnorm", RMS),
    ("groupnorm", GROUP),
    ("instancenorm", INSTANCE),
];

/// Traits the generated layer implements itself, so a user derive of them
/// would conflict.
pub const GENERATED_TRAITS: &[&str] = &["Clone", "Debug", "PartialEq", "Default"];

/// Arrays nest at most this deep in a row (`Row` is implemented to rank 4).
pub const MAX_RANK: usize = 4;
