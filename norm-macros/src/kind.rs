//! Everything a normalization kind means, in one place: its names, which
//! options apply to it and their defaults, what it requires, the kernel it
//! runs and how its docs describe it.
//!
//! Every question is an exhaustive `match`, so a new kind does not compile
//! until each of them has an answer. Adding a kind that reuses a kernel is a
//! variant in `kinds!` plus the arms the compiler asks for below (and its
//! line in the attribute's docs in `lib.rs`).

use crate::symbol::{Dtype, Opt};

/// Declares the kinds and the list of all of them from one list of variants.
macro_rules! kinds {
    ($($variant:ident),* $(,)?) => {
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum Kind {
            $($variant),*
        }

        impl Kind {
            /// Every kind, in the order error messages list them.
            pub const ALL: &'static [Self] = &[$(Self::$variant),*];
        }
    };
}

kinds!(Batch, Layer, Rms, Group, Instance);

/// What `dims` counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// The normalized shape, one parameter per value (layer, RMS norm).
    Features,
    /// The number of channels, with optional `spatial` dims after the
    /// channel and one parameter per channel (batch, group, instance norm).
    Channels,
}

/// The runtime kernel a layer calls (`norm-runtime/src/kernels`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kernel {
    /// Per-example statistics of contiguous segments of each row
    /// (`kernels::rows`), through `rows::{entry}_forward` / `_backward`.
    Rows {
        /// The runtime entry point's prefix, such as `layer_norm`.
        entry: &'static str,
        /// Which const generics the entry point takes besides the row.
        segments: Segments,
    },
    /// Per-channel statistics over the batch with running averages
    /// (`kernels::batch`): also folding and SyncBatchNorm.
    Batch,
    /// Per-example statistics in training, running statistics in inference
    /// (`kernels::instance`).
    TrackedInstance,
}

/// How a row splits into segments for [`Kernel::Rows`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Segments {
    /// The whole row is one segment.
    WholeRow,
    /// `groups` segments of whole channels.
    Groups,
    /// One segment per channel.
    Channels,
}

/// A required option that is missing, and how to say so.
pub struct Requirement {
    pub option: Opt,
    pub message: &'static str,
}

/// A layer's configuration as its docs spell it: sizes as written.
pub struct Spelled {
    /// `dims` as written: `16`, `[4, 8]`, `HIDDEN`.
    pub shape: String,
    /// `dims[0]`, the channels of a channel kind.
    pub channels: String,
    pub spatial: Vec<String>,
    pub groups: String,
    pub eps: f64,
    pub momentum: Option<f64>,
    pub affine: bool,
    pub bias: bool,
    pub track: bool,
}

/// What the generated doc comment says of a layer.
pub struct Description {
    pub title: String,
    pub torch: String,
    pub what: String,
}

impl Kind {
    /// The name in the attribute.
    pub fn name(self) -> &'static str {
        match self {
            Self::Batch => "batch",
            Self::Layer => "layer",
            Self::Rms => "rms",
            Self::Group => "group",
            Self::Instance => "instance",
        }
    }

    /// The name in prose.
    pub fn prose(self) -> &'static str {
        match self {
            Self::Batch => "batch norm",
            Self::Layer => "layer norm",
            Self::Rms => "RMS norm",
            Self::Group => "group norm",
            Self::Instance => "instance norm",
        }
    }

    /// Names users bring from PyTorch or habit for this kind, too far from
    /// ours for a spelling suggestion.
    pub fn aliases(self) -> &'static [&'static str] {
        match self {
            Self::Batch => &[
                "BatchNorm1d",
                "BatchNorm2d",
                "BatchNorm3d",
                "batch_norm",
                "batchnorm",
            ],
            Self::Layer => &["LayerNorm", "layer_norm", "layernorm"],
            Self::Rms => &["RMSNorm", "rms_norm", "rmsnorm"],
            Self::Group => &["GroupNorm", "group_norm", "groupnorm"],
            Self::Instance => &[
                "InstanceNorm1d",
                "InstanceNorm2d",
                "InstanceNorm3d",
                "instance_norm",
                "instancenorm",
            ],
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|k| k.name() == name)
    }

    /// The attribute names of every kind.
    pub fn names() -> Vec<&'static str> {
        Self::ALL.iter().map(|k| k.name()).collect()
    }

    pub fn layout(self) -> Layout {
        match self {
            Self::Layer | Self::Rms => Layout::Features,
            Self::Batch | Self::Group | Self::Instance => Layout::Channels,
        }
    }

    /// Whether `option` means anything for this kind.
    pub fn applies(self, option: Opt) -> bool {
        match option {
            Opt::Spatial => self.layout() == Layout::Channels,
            Opt::Groups => match self {
                Self::Group => true,
                Self::Batch | Self::Layer | Self::Rms | Self::Instance => false,
            },
            Opt::Momentum | Opt::Track => self.running_statistics().is_some(),
            Opt::Bias => self.layout() == Layout::Features,
            Opt::Dims | Opt::Eps | Opt::Affine | Opt::Dtype | Opt::Crate => true,
        }
    }

    /// The options this kind cannot do without, besides `dims`.
    pub fn requirements(self) -> &'static [Requirement] {
        match self {
            Self::Group => &[Requirement {
                option: Opt::Groups,
                message: "missing `groups`: the number of groups to split the channels into, for example `groups = 4`",
            }],
            Self::Instance => &[Requirement {
                option: Opt::Spatial,
                message: "missing `spatial`: instance norm normalizes each channel over its \
                          spatial positions, for example `spatial = 32` or `spatial = [8, 8]`",
            }],
            Self::Batch | Self::Layer | Self::Rms => &[],
        }
    }

    /// The fewest spatial positions per channel, and why, for kinds that
    /// normalize each channel of each example on its own.
    pub fn min_spatial(self) -> Option<(usize, &'static str)> {
        match self {
            Self::Instance => Some((
                2,
                "instance norm needs more than 1 spatial position per channel: one value has no variance \
                 (PyTorch: \"Expected more than 1 spatial element when training\")",
            )),
            Self::Batch | Self::Layer | Self::Rms | Self::Group => None,
        }
    }

    /// Running statistics: `Some(default of track_running_stats)` for the
    /// kinds that can keep them.
    pub fn running_statistics(self) -> Option<bool> {
        match self {
            Self::Batch => Some(true),
            Self::Instance => Some(false),
            Self::Layer | Self::Rms | Self::Group => None,
        }
    }

    /// Why `momentum = none` (a cumulative average) is refused, if it is.
    pub fn refuses_cumulative(self) -> Option<&'static str> {
        match self {
            Self::Instance => Some(
                "instance norm has no cumulative average: PyTorch passes momentum=None as 0, \
                 which freezes the running statistics; give a number in [0, 1]",
            ),
            Self::Batch | Self::Layer | Self::Rms | Self::Group => None,
        }
    }

    /// PyTorch's default of `affine` / `elementwise_affine`.
    pub fn default_affine(self) -> bool {
        match self {
            Self::Batch | Self::Layer | Self::Rms | Self::Group => true,
            Self::Instance => false,
        }
    }

    /// PyTorch's default of `bias`, given `affine`.
    pub fn default_bias(self, affine: bool) -> bool {
        match self {
            // RMSNorm has no bias.
            Self::Rms => false,
            Self::Batch | Self::Layer | Self::Group | Self::Instance => affine,
        }
    }

    /// PyTorch's default `eps`.
    pub fn default_eps(self, dtype: Dtype) -> f64 {
        match (self, dtype) {
            // RMSNorm: eps=None is the dtype's machine epsilon.
            (Self::Rms, Dtype::F32) => f64::from(f32::EPSILON),
            (Self::Rms, Dtype::F64) => f64::EPSILON,
            (Self::Batch | Self::Layer | Self::Group | Self::Instance, _) => 1e-5,
        }
    }

    /// The kernel, given whether the layer tracks running statistics.
    pub fn kernel(self, track: bool) -> Kernel {
        match self {
            Self::Batch => Kernel::Batch,
            Self::Layer => Kernel::Rows {
                entry: "layer_norm",
                segments: Segments::WholeRow,
            },
            Self::Rms => Kernel::Rows {
                entry: "rms_norm",
                segments: Segments::WholeRow,
            },
            Self::Group => Kernel::Rows {
                entry: "group_norm",
                segments: Segments::Groups,
            },
            Self::Instance if track => Kernel::TrackedInstance,
            Self::Instance => Kernel::Rows {
                entry: "instance_norm",
                segments: Segments::Channels,
            },
        }
    }

    /// The generated doc comment's account of the layer, in PyTorch's terms.
    pub fn describe(self, c: &Spelled) -> Description {
        let (eps, affine, track) = (py_float(c.eps), py_bool(c.affine), py_bool(c.track));
        let channels = &c.channels;
        let momentum = c
            .momentum
            .map_or_else(|| "None".to_owned(), |m| format!("{m}"));
        let input = {
            let mut s = vec!["batch".to_owned(), channels.to_string()];
            s.extend(c.spatial.iter().map(ToString::to_string));
            format!("({})", s.join(", "))
        };
        let dim_suffix = c.spatial.len().max(1);
        let running = |uses: &'static str| if c.track { uses } else { "" };
        match self {
            Self::Layer => Description {
                title: format!("**Layer normalization** over {} values", c.shape),
                torch: format!(
                    "torch.nn.LayerNorm({}, eps={eps}, elementwise_affine={affine}, bias={})",
                    c.shape,
                    py_bool(c.bias)
                ),
                what: "each row is normalized with its own mean and biased variance, in training and inference alike".to_owned(),
            },
            Self::Rms => Description {
                title: format!("**RMS normalization** over {} values", c.shape),
                torch: format!(
                    "torch.nn.RMSNorm({}, eps={eps}, elementwise_affine={affine})",
                    c.shape
                ),
                what: "each row is divided by its root mean square, in training and inference alike".to_owned(),
            },
            Self::Group => Description {
                title: format!(
                    "**Group normalization** of {channels} channels in {} groups",
                    c.groups
                ),
                torch: format!(
                    "torch.nn.GroupNorm({}, {channels}, eps={eps}, affine={affine})",
                    c.groups
                ),
                what: format!("on input of shape {input}: each group of channels of each example is normalized with its own statistics"),
            },
            Self::Instance => Description {
                title: format!("**Instance normalization** of {channels} channels"),
                torch: format!(
                    "torch.nn.InstanceNorm{dim_suffix}d({channels}, eps={eps}, momentum={momentum}, affine={affine}, track_running_stats={track})"
                ),
                what: format!(
                    "on input of shape {input}: each channel of each example is normalized over its spatial positions{}",
                    running("; inference uses the running statistics")
                ),
            },
            Self::Batch => Description {
                title: format!("**Batch normalization** of {channels} channels"),
                torch: format!(
                    "torch.nn.BatchNorm{dim_suffix}d({channels}, eps={eps}, momentum={momentum}, affine={affine}, track_running_stats={track})"
                ),
                what: format!(
                    "on input of shape {input}: training normalizes each channel with the batch's mean and biased variance{}",
                    if c.track {
                        " and updates the running statistics, which inference uses"
                    } else {
                        ", and so does inference (no running statistics)"
                    }
                ),
            },
        }
    }
}

/// PyTorch's spelling of a float argument.
fn py_float(v: f64) -> String {
    format!("{v:e}").replace("e-", "e-0").replace("e-00", "e-0")
}

fn py_bool(b: bool) -> &'static str {
    if b { "True" } else { "False" }
}
