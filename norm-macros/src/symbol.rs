//! Every name the attribute understands, in one place (the kinds' names are
//! with the rest of what a kind means, in `kind.rs`).

/// An enum of options with their names in the attribute: `ALL` in the order
/// error messages list them, `name`, `from_name` and `names`.
macro_rules! options {
    ($(#[$doc:meta])* pub enum $name:ident { $($variant:ident => $text:literal),* $(,)? }) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum $name {
            $($variant),*
        }

        impl $name {
            /// Every option, in the order error messages list them.
            pub const ALL: &'static [Self] = &[$(Self::$variant),*];

            /// The name in the attribute.
            pub fn name(self) -> &'static str {
                match self {
                    $(Self::$variant => $text),*
                }
            }

            pub fn from_name(name: &str) -> Option<Self> {
                Self::ALL.iter().copied().find(|o| o.name() == name)
            }

            /// The attribute names of every option.
            pub fn names() -> Vec<&'static str> {
                Self::ALL.iter().map(|o| o.name()).collect()
            }
        }
    };
}
pub(crate) use options;

options! {
    /// The `name = value` arguments of `#[normalize]`.
    pub enum Opt {
        Dims => "dims",
        Spatial => "spatial",
        Groups => "groups",
        Eps => "eps",
        Momentum => "momentum",
        Affine => "affine",
        Bias => "bias",
        Track => "track_running_stats",
        Dtype => "dtype",
        Crate => "crate",
    }
}

impl Opt {
    /// How to write it, for error messages.
    pub fn example(self) -> &'static str {
        match self {
            Self::Dims => "`dims = 16` or `dims = [4, 8]`",
            Self::Spatial => "`spatial = 32` or `spatial = [8, 8]`",
            Self::Groups => "`groups = 4`",
            Self::Affine => "`affine = false`",
            Self::Bias => "`bias = false`",
            Self::Track => "`track_running_stats = false`",
            Self::Eps => "`eps = 1e-5`",
            Self::Momentum => "`momentum = 0.1` or `momentum = none`",
            Self::Dtype => "`dtype = f64`",
            Self::Crate => "`crate = ::constnorm`",
        }
    }
}

/// `momentum = none`: PyTorch's cumulative moving average (`momentum=None`).
pub const NONE: &str = "none";
/// PyTorch spells it `None`; accepted as well.
pub const NONE_PYTHON: &str = "None";

pub const F32: &str = "f32";
pub const F64: &str = "f64";
pub const DTYPES: &[&str] = &[F32, F64];

/// The scalar type of a layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dtype {
    F32,
    F64,
}

impl Dtype {
    pub fn name(self) -> &'static str {
        match self {
            Self::F32 => F32,
            Self::F64 => F64,
        }
    }
}

/// Names users bring from PyTorch or habit for an option, and ours for the
/// same thing. Too far from ours for a spelling suggestion, so they are
/// listed (the kinds' are `Kind::aliases`).
pub const ALIASES: &[(&str, &str)] = &[
    ("normalized_shape", "dims"),
    ("num_features", "dims"),
    ("num_channels", "dims"),
    ("channels", "dims"),
    ("features", "dims"),
    ("size", "dims"),
    ("shape", "dims"),
    ("num_groups", "groups"),
    ("epsilon", "eps"),
    ("elementwise_affine", "affine"),
    ("track", "track_running_stats"),
    ("track_stats", "track_running_stats"),
    ("running_stats", "track_running_stats"),
    ("type", "dtype"),
];

/// Traits the generated layer implements itself, so a user derive of them
/// would conflict.
pub const GENERATED_TRAITS: &[&str] = &["Clone", "Debug", "PartialEq", "Default"];

/// Arrays nest at most this deep in a row (`Row` is implemented to rank 4).
pub const MAX_RANK: usize = 4;
