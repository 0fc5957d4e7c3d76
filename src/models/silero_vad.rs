//! Silero VAD v6 (MIT licence, Silero Team): voice activity detection, run
//! every 32 ms on 512 new samples at 16 kHz (256 at 8 kHz), from the
//! weights of the `silero-vad` 6.2.3 package.
//!
//! The network, as the package's TorchScript and ONNX graphs compute it
//! (16 kHz; 8 kHz halves the STFT: 128 points, hop 64, 65 bins, 32 samples
//! of context and padding):
//!
//! | field | layer | shape after |
//! |---|---|---|
//! | `pad` | `ReflectionPad1d((0, 64))` on 64 context + 512 new samples | `[1, 640]` |
//! | `stft` | the package's `Conv1d(1, 258, 256, stride = 128, bias = False)` with the fixed basis Hann x `[cos; -sin]` and `sqrt(re² + im²)` of the channel halves, computed by FFT ([`StftMagnitude`]; the file's basis is checked to be its basis) | `[129, 4]` |
//! | `conv0`, `relu0` | `Conv1d(129, 128, 3, padding = 1)`, ReLU | `[128, 4]` |
//! | `conv1`, `relu1` | `Conv1d(128, 64, 3, stride = 2, padding = 1)`, ReLU | `[64, 2]` |
//! | `conv2`, `relu2` | `Conv1d(64, 64, 3, stride = 2, padding = 1)`, ReLU | `[64, 1]` |
//! | `conv3`, `relu3` | `Conv1d(64, 128, 3, padding = 1)`, ReLU | `[128, 1]` |
//! | [`SileroVad::rnn`] | `LSTMCell(128, 128)`, its state carried between calls | `h: [128]` |
//! | [`SileroVad::decoder`] | ReLU(h), `Conv1d(128, 1, 1)`, sigmoid | the probability |
//!
//! The encoder is a `#[network]` ([`Encoder16k`], [`Encoder8k`]); the cell
//! and the head run after it, one step per call. The encoder's
//! convolutions are Silero's re-parameterized ones (`reparam_conv`): their
//! training-time normalization is already folded in.
//!
//! Streaming ([`VadStream`]) follows the package's `OnnxWrapper`: each call
//! gets the last 64 (32) samples of the previous call's input, zeros at
//! first, followed by the new chunk, and the LSTM state `[h, c]` of the
//! previous call, zeros at first; a short last chunk is padded with zeros.
//! Nothing is allocated per chunk.
//!
//! ```no_run
//! # #[cfg(feature = "safetensors")] {
//! use constnorm::models::silero_vad::{SileroVad16k, VadStream};
//!
//! let bytes = std::fs::read("models/silero_vad/silero_vad_16k.safetensors")?;
//! let vad = SileroVad16k::from_safetensors(&bytes)?;
//! let mut stream = VadStream::new();
//! let chunk = [0.0_f32; 512]; // 32 ms of 16 kHz audio in [-1, 1]
//! let p = stream.process(&vad, &chunk)?;
//! # let _ = p;
//! # }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use crate::__private::InPlace;
use crate::nn::{Cell, Elementwise, LstmCell, ReflectionPad1d, Relu1d, SigmoidFn, StftMagnitude};
use crate::{Layer, Network, NormError, Parameters, Row, StateDict, conv1d, network};

/// The LSTM's width.
pub const HIDDEN: usize = 128;

/// The LSTM state carried between calls: `[h, c]`, as the ONNX graph's
/// `state[:, n, :]` for example `n`.
pub type State = [[f32; HIDDEN]; 2];

/// What one sample rate's network needs besides its encoder's type: the
/// sizes of its calls and the names of its weights in the package's file.
pub trait Rate:
    Network<Output = [[f32; 1]; HIDDEN]>
    + Parameters<Scalar = f32>
    + StateDict<Scalar = f32>
    + Default
    + InPlace
{
    /// Samples per second.
    const SAMPLE_RATE: u32;
    /// New samples per call.
    const CHUNK: usize;
    /// Samples of the previous call's input that each call sees again.
    const CONTEXT: usize;
    /// The package's names of the encoder's tensors and the fields they
    /// fill (the cell's and the head's are `decoder.rnn.*` and
    /// `decoder.decoder.2.*`).
    const KEY_MAP: &'static [(&'static str, &'static str)];
    /// The STFT's length, and its bins (`FFT / 2 + 1`).
    const FFT: usize;
    /// Frequency bins.
    const BINS: usize;

    /// Row `r`, tap `n` of the STFT basis the encoder computes (the
    /// package's `stft.forward_basis_buffer`, `[2 BINS, 1, FFT]`).
    fn stft_basis(r: usize, n: usize) -> f64;
}

/// Writes an encoder `#[network]` and its [`Rate`].
macro_rules! encoder {
    (
        $(#[$doc:meta])*
        $name:ident, rate $rate:literal, chunk $chunk:literal, context $context:literal,
        samples $samples:literal, padded $padded:literal, fft $fft:literal, hop $hop:literal,
        channels $channels:literal, bins $bins:literal
    ) => {
        $(#[$doc])*
        #[network]
        #[derive(Clone, Debug, Default)]
        pub struct $name {
            /// `ReflectionPad1d((0, context))`.
            pub pad: ReflectionPad1d<1, $samples, 0, $context, $padded>,
            /// The STFT's magnitude, by FFT: the package's convolution with
            /// its fixed basis (`stft.forward_basis_buffer`, checked to be
            /// this transform's when loaded) and `sqrt(re² + im²)`.
            pub stft: StftMagnitude<$fft, $hop, $padded, 4, $bins>,
            /// `encoder.0.reparam_conv`.
            pub conv0: conv1d!($bins, 128, 3, padding = 1, input = [$bins, 4]),
            /// ReLU.
            pub relu0: Relu1d<128, 4>,
            /// `encoder.1.reparam_conv`.
            pub conv1: conv1d!(128, 64, 3, stride = 2, padding = 1, input = [128, 4]),
            /// ReLU.
            pub relu1: Relu1d<64, 2>,
            /// `encoder.2.reparam_conv`.
            pub conv2: conv1d!(64, 64, 3, stride = 2, padding = 1, input = [64, 2]),
            /// ReLU.
            pub relu2: Relu1d<64, 1>,
            /// `encoder.3.reparam_conv`.
            pub conv3: conv1d!(64, 128, 3, padding = 1, input = [64, 1]),
            /// ReLU.
            pub relu3: Relu1d<128, 1>,
        }

        impl Rate for $name {
            const FFT: usize = $fft;
            const BINS: usize = $bins;

            fn stft_basis(r: usize, n: usize) -> f64 {
                StftMagnitude::<$fft, $hop, $padded, 4, $bins>::basis(r, n)
            }

            const SAMPLE_RATE: u32 = $rate;
            const CHUNK: usize = $chunk;
            const CONTEXT: usize = $context;
            const KEY_MAP: &'static [(&'static str, &'static str)] = &[
                ("encoder.0.reparam_conv.weight", "conv0.weight"),
                ("encoder.0.reparam_conv.bias", "conv0.bias"),
                ("encoder.1.reparam_conv.weight", "conv1.weight"),
                ("encoder.1.reparam_conv.bias", "conv1.bias"),
                ("encoder.2.reparam_conv.weight", "conv2.weight"),
                ("encoder.2.reparam_conv.bias", "conv2.bias"),
                ("encoder.3.reparam_conv.weight", "conv3.weight"),
                ("encoder.3.reparam_conv.bias", "conv3.bias"),
            ];
        }
    };
}

encoder! {
    /// The 16 kHz encoder: 64 + 512 samples in, 128 features out.
    Encoder16k, rate 16000, chunk 512, context 64, samples 576, padded 640,
    fft 256, hop 128, channels 258, bins 129
}

encoder! {
    /// The 8 kHz encoder: 32 + 256 samples in, 128 features out.
    Encoder8k, rate 8000, chunk 256, context 32, samples 288, padded 320,
    fft 128, hop 64, channels 130, bins 65
}

/// The decoder's 1x1 convolution, `decoder.decoder.2`.
pub type Head = conv1d!(128, 1, 1, input = [128, 1]);

/// Silero VAD for one sample rate: the encoder `E`, the LSTM cell and the
/// head. [`SileroVad16k`] and [`SileroVad8k`] are the package's two
/// networks.
#[derive(Clone, Debug, Default)]
pub struct SileroVad<E> {
    /// The STFT front end and the four convolutions.
    pub encoder: E,
    /// `decoder.rnn`: `LSTMCell(128, 128)`, gates i, f, g, o, both biases.
    pub rnn: LstmCell<HIDDEN, HIDDEN>,
    /// `decoder.decoder.2`: the 1x1 convolution after `ReLU(h)`.
    pub decoder: Head,
}

/// Silero VAD at 16 kHz.
pub type SileroVad16k = SileroVad<Encoder16k>;
/// Silero VAD at 8 kHz.
pub type SileroVad8k = SileroVad<Encoder8k>;

impl<E: Rate> SileroVad<E> {
    /// The network loaded from the package's weights for its rate
    /// (`silero_vad_16k.safetensors` / `_8k`: the TorchScript state dict
    /// without its `_model.` / `_model_8k.` prefix), on the heap. Every
    /// tensor is checked (names, shapes, dtype f32, finite values) and the
    /// file must hold nothing else.
    ///
    /// # Errors
    /// A [`LoadError`](crate::safetensors::LoadError) for a file that is
    /// not safetensors or not these weights.
    #[cfg(feature = "safetensors")]
    pub fn from_safetensors(
        bytes: &[u8],
    ) -> Result<std::boxed::Box<Self>, crate::safetensors::LoadError> {
        use crate::safetensors::{LoadError, LoadOptions, StateDictFile};
        let file = StateDictFile::parse(bytes)?;
        let head =
            |name: &str| name.starts_with("decoder.rnn.") || name.starts_with("decoder.decoder.2.");
        // Every tensor is the head's or named in the encoder's key map.
        let keys = file.keys();
        let basis = "stft.forward_basis_buffer";
        let mapped = |name: &str| name == basis || E::KEY_MAP.iter().any(|(from, _)| *from == name);
        if let Some(key) = keys.iter().find(|k| !head(k) && !mapped(k)) {
            return Err(LoadError::UnexpectedKey(key.clone()));
        }
        // The STFT is computed by FFT: the file's basis must be its basis
        // (to the file's f32 rounding).
        let values: std::vec::Vec<f32> = file.read_tensor(basis, &[2 * E::BINS, 1, E::FFT])?;
        let off = values.iter().enumerate().position(|(i, v)| {
            (f64::from(*v) - E::stft_basis(i / E::FFT, i % E::FFT)).abs() > 1e-6
        });
        if let Some(index) = off {
            return Err(LoadError::UnexpectedValues {
                key: basis.into(),
                index,
                expected: "the periodic-Hann STFT basis the encoder computes",
            });
        }
        let mut vad = crate::__private::boxed::<Self>();
        file.load("decoder.rnn", &mut vad.rnn, LoadOptions::default())?;
        file.load(
            "decoder.decoder.2",
            &mut vad.decoder,
            LoadOptions::default(),
        )?;
        let others = LoadOptions {
            strict: false,
            ..LoadOptions::default()
        };
        file.load_renamed(&mut vad.encoder, E::KEY_MAP, others)?;
        Ok(vad)
    }

    /// Runs a batch of `B` calls at once: `x[n]` holds the context and the
    /// chunk of call `n` (`CONTEXT + CHUNK` samples), `state[n]` its LSTM
    /// state, which becomes the state after the call. Returns each call's
    /// speech probability. Each example gets the numbers it gets alone.
    ///
    /// # Errors
    /// Only what a layer reports (nothing, on these fixed sizes).
    pub fn forward<const B: usize>(
        &self,
        x: &[E::Input; B],
        state: &mut [State; B],
        workspace: &mut E::Workspace<B>,
    ) -> Result<[f32; B], NormError> {
        let features = self.encoder.forward_eval(x, workspace)?;
        let mut probs = [0.0; B];
        for ((features, state), p) in features.iter().zip(state).zip(&mut probs) {
            *p = self.decode(features, state)?;
        }
        Ok(probs)
    }

    /// One LSTM step on the encoder's features and the head: the speech
    /// probability; `state` becomes the state after the step.
    fn decode(&self, features: &[[f32; 1]; HIDDEN], state: &mut State) -> Result<f32, NormError> {
        let x: [f32; HIDDEN] = core::array::from_fn(|i| features[i][0]);
        let previous = *state;
        let mut cache = <LstmCell<HIDDEN, HIDDEN> as Cell>::EMPTY_CACHE;
        self.rnn.step(&x, &previous, state, &mut cache);
        let mut h = [[0.0_f32; 1]; HIDDEN];
        for (r, &v) in h.iter_mut().zip(&state[0]) {
            r[0] = v.max(0.0);
        }
        let mut logit = [[[0.0_f32; 1]; 1]];
        self.decoder.forward_eval(&[h], &mut logit)?;
        Ok(SigmoidFn::value(logit[0][0][0]))
    }
}

// SAFETY: `init_at` writes the three fields by their own `init_at`, each of
// which leaves a valid value.
unsafe impl<E: Rate> InPlace for SileroVad<E> {
    #[inline]
    unsafe fn init_at(p: *mut Self) {
        // SAFETY: the caller's `p` is valid for writes and aligned, and so is
        // each field's place in it.
        unsafe {
            E::init_at(core::ptr::addr_of_mut!((*p).encoder));
            LstmCell::<HIDDEN, HIDDEN>::init_at(core::ptr::addr_of_mut!((*p).rnn));
            Head::init_at(core::ptr::addr_of_mut!((*p).decoder));
        }
    }
}

/// A stream of audio through a [`SileroVad`]: the context samples and the
/// LSTM state between calls, and the workspace, all fixed-size (27 KiB at
/// 16 kHz, 20 KiB at 8 kHz). One stream per audio source; the network can be shared.
pub struct VadStream<E: Rate> {
    input: [E::Input; 1],
    state: [State; 1],
    workspace: E::Workspace<1>,
}

impl<E: Rate> Default for VadStream<E> {
    fn default() -> Self {
        Self::new()
    }
}

impl<E: Rate> VadStream<E> {
    /// A stream at its start: zero context, zero state.
    #[must_use]
    pub fn new() -> Self {
        Self {
            input: [E::Input::ZERO],
            state: [[[0.0; HIDDEN]; 2]],
            workspace: E::Workspace::<1>::default(),
        }
    }

    /// Back to the start of a stream (zero context and state).
    pub fn reset(&mut self) {
        self.input = [E::Input::ZERO];
        self.state = [[[0.0; HIDDEN]; 2]];
    }

    /// The LSTM state `[h, c]` after the last call.
    #[must_use]
    pub fn state(&self) -> &State {
        &self.state[0]
    }

    /// The speech probability of the next `chunk` of audio (`CHUNK`
    /// samples in `[-1, 1]`: 512 at 16 kHz, 256 at 8 kHz; a shorter last
    /// chunk of a file is padded with zeros by the caller, as the package
    /// does). Allocates nothing.
    ///
    /// # Errors
    /// [`NormError::RowCountMismatch`] (argument `"chunk"`) if `chunk` is
    /// not `CHUNK` samples long; the stream is then unchanged.
    pub fn process(&mut self, vad: &SileroVad<E>, chunk: &[f32]) -> Result<f32, NormError> {
        if chunk.len() != E::CHUNK {
            return Err(NormError::RowCountMismatch {
                argument: "chunk",
                expected: E::CHUNK,
                found: chunk.len(),
            });
        }
        let samples = self.input[0].as_flat_mut();
        // The last CONTEXT samples of the previous input, then the chunk.
        samples.copy_within(E::CHUNK.., 0);
        samples[E::CONTEXT..].copy_from_slice(chunk);
        let [p] = vad.forward(&self.input, &mut self.state, &mut self.workspace)?;
        Ok(p)
    }
}
