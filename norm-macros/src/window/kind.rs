//! Everything a sliding-window layer kind means: its name, rank, family,
//! positional arguments, which options apply and the runtime type it
//! expands to. Every question is an exhaustive `match`.

/// Declares the kinds and the list of all of them from one list.
macro_rules! windows {
    ($($variant:ident),* $(,)?) => {
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum Window {
            $($variant),*
        }

        impl Window {
            /// Every kind.
            #[cfg(test)]
            pub const ALL: &'static [Self] = &[$(Self::$variant),*];
        }
    };
}

windows!(Conv1d, Conv2d, MaxPool1d, MaxPool2d, AvgPool1d, AvgPool2d);

/// What a kind computes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    Conv,
    MaxPool,
    AvgPool,
}

crate::symbol::options! {
    /// The `name = value` options of the window macros.
    pub enum Opt {
        Stride => "stride",
        Padding => "padding",
        Dilation => "dilation",
        Groups => "groups",
        Bias => "bias",
        CeilMode => "ceil_mode",
        CountIncludePad => "count_include_pad",
        Input => "input",
        Dtype => "dtype",
        Crate => "crate",
    }
}

impl Window {
    /// The macro's name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Conv1d => "conv1d",
            Self::Conv2d => "conv2d",
            Self::MaxPool1d => "max_pool1d",
            Self::MaxPool2d => "max_pool2d",
            Self::AvgPool1d => "avg_pool1d",
            Self::AvgPool2d => "avg_pool2d",
        }
    }

    /// The runtime type in `nn`.
    pub fn runtime_type(self) -> &'static str {
        match self {
            Self::Conv1d => "Conv1d",
            Self::Conv2d => "Conv2d",
            Self::MaxPool1d => "MaxPool1d",
            Self::MaxPool2d => "MaxPool2d",
            Self::AvgPool1d => "AvgPool1d",
            Self::AvgPool2d => "AvgPool2d",
        }
    }

    /// Spatial axes.
    pub fn rank(self) -> usize {
        match self {
            Self::Conv1d | Self::MaxPool1d | Self::AvgPool1d => 1,
            Self::Conv2d | Self::MaxPool2d | Self::AvgPool2d => 2,
        }
    }

    pub fn family(self) -> Family {
        match self {
            Self::Conv1d | Self::Conv2d => Family::Conv,
            Self::MaxPool1d | Self::MaxPool2d => Family::MaxPool,
            Self::AvgPool1d | Self::AvgPool2d => Family::AvgPool,
        }
    }

    /// The positional arguments, in PyTorch's order and with its names.
    pub fn positional(self) -> &'static [&'static str] {
        match self.family() {
            Family::Conv => &["in_channels", "out_channels", "kernel_size"],
            Family::MaxPool | Family::AvgPool => &["kernel_size"],
        }
    }

    /// Whether `option` means anything for this kind.
    pub fn applies(self, option: Opt) -> bool {
        let family = self.family();
        match option {
            Opt::Stride | Opt::Padding | Opt::Input | Opt::Dtype | Opt::Crate => true,
            Opt::Dilation => family != Family::AvgPool,
            Opt::Groups | Opt::Bias => family == Family::Conv,
            Opt::CeilMode => family != Family::Conv,
            Opt::CountIncludePad => family == Family::AvgPool,
        }
    }

    /// The PyTorch module, for messages.
    pub fn torch(self) -> &'static str {
        match self {
            Self::Conv1d => "torch.nn.Conv1d",
            Self::Conv2d => "torch.nn.Conv2d",
            Self::MaxPool1d => "torch.nn.MaxPool1d",
            Self::MaxPool2d => "torch.nn.MaxPool2d",
            Self::AvgPool1d => "torch.nn.AvgPool1d",
            Self::AvgPool2d => "torch.nn.AvgPool2d",
        }
    }

    /// How one example is written for `input`.
    pub fn input_example(self) -> &'static str {
        match self.rank() {
            1 => "`input = [C, L]` (channels, length)",
            _ => "`input = [C, H, W]` (channels, height, width)",
        }
    }
}
