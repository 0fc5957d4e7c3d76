//! Generated layers of every kind under `#![no_std]`, without `alloc`: a
//! forward and backward pass on fixed-size arrays; and the conv and pool
//! kernels and the convolutional layer types on them, in a network; and a
//! streaming GRU step. CI builds this crate on
//! its own (`cargo build -p norm-no-std-check`), so constnorm is compiled
//! without its `std` feature (square roots come from libm).
#![no_std]

use constnorm::nn::{Adam, Gelu, Linear, Sgd, Tanh, cross_entropy, init_seeded};
use constnorm::runtime::kernels::window::{Padding, conv_out_len, pool_out_len};
use constnorm::runtime::kernels::{conv, pool};
use constnorm::{Gradients, Network, Normalization, network, normalize};

#[normalize(layer, dims = 8)]
pub struct Ln;

#[normalize(batch, dims = 4, spatial = [2, 2])]
pub struct Bn2d;

#[normalize(rms, dims = [2, 4], dtype = f64)]
pub struct Rms;

#[normalize(group, dims = 4, groups = 2, spatial = 3)]
pub struct Gn;

#[normalize(instance, dims = 2, spatial = 5, track_running_stats = true)]
pub struct In1d;

/// A network of every piece (Linear, both norms, GELU, Tanh).
#[network]
#[derive(Default)]
pub struct Net {
    fc1: Linear<3, 8>,
    ln: Ln,
    act1: Gelu<8>,
    fc2: Linear<8, 8>,
    bn: Bn8,
    act2: Tanh<8>,
    out: Linear<8, 2>,
}

#[normalize(batch, dims = 8)]
pub struct Bn8;

/// One training step of a network with SGD and Adam: cross-entropy loss.
///
/// # Errors
/// Never in practice: the batches have the right sizes.
pub fn train_step() -> Result<f32, constnorm::NormError> {
    let mut net = Net::default();
    init_seeded(&mut net, 3);
    let mut ws = NetWorkspace::<4>::new();
    let x = [[0.5_f32, -1.0, 2.0]; 4];
    let mut dlogits = [[0.0; 2]; 4];
    let logits = net.forward_train(&x, &mut ws)?;
    let loss = cross_entropy(logits, &[0, 1, 1, 0], &mut dlogits)?;
    let mut grads = NetGrads::default();
    grads.set_zero();
    net.backward(&x, &mut ws, &dlogits, &mut grads)?;
    Sgd::new(0.1, 0.9).step(&mut net, &grads);
    Adam::new(1e-3).step(&mut net, &grads);
    Ok(loss)
}

/// One training step of a layer on a constant-size batch; returns a value
/// that depends on every output so nothing is optimized away.
fn step<L: Normalization, const B: usize>(
    layer: &mut L,
    x: &[L::Row; B],
) -> Result<usize, constnorm::NormError> {
    let (y, saved) = layer.forward_train_array(x);
    let mut grads = L::Grads::default();
    let dx = layer.backward_array(x, &saved, &y, &mut grads)?;
    Ok(dx.len() + y.len())
}

/// Runs every layer once.
///
/// # Errors
/// Never in practice: the batches have the right sizes.
pub fn run() -> Result<usize, constnorm::NormError> {
    let mut n = step(&mut Ln::new(), &[[0.5_f32; 8], [1.5; 8]])?;
    n += step(&mut Bn2d::new(), &[[[[0.25_f32; 2]; 2]; 4]; 2])?;
    n += step(&mut Rms::new(), &[[[2.0_f64; 4]; 2]])?;
    n += step(&mut Gn::new(), &[[[1.0_f32; 3]; 4]; 3])?;
    n += step(&mut In1d::new(), &[[[3.0_f32; 5]; 2]; 2])?;
    Ok(n)
}

/// Output side of the conv below: 6x6, 3x3 kernel, stride 1, padding 1.
const CONV_OUT: usize = conv_out_len(6, 3, 1, Padding::symmetric(1), 1);
/// Output side of the max pool below: 2x2 windows, stride 2, ceil_mode.
const POOL_OUT: usize = pool_out_len(CONV_OUT, 2, 2, 0, 1, true);

/// A 2-d convolution (2 groups) and a max pool, forward and backward, on a
/// batch of two; returns a value that depends on every gradient.
///
/// # Errors
/// Never in practice: the batches have the right sizes.
pub fn conv_pool_step() -> Result<f32, constnorm::NormError> {
    type Conv = [[[f32; CONV_OUT]; CONV_OUT]; 4];
    type Pooled = [[[f32; POOL_OUT]; POOL_OUT]; 4];
    let x = [[[[0.5_f32; 6]; 6]; 2]; 2];
    let weight = [[[[0.25_f32; 3]; 3]; 1]; 4];
    let bias = [0.1_f32; 4];
    let mut y: [Conv; 2] = [[[[0.0; CONV_OUT]; CONV_OUT]; 4]; 2];
    conv::conv2d_forward::<f32, 2, 4, 2, 1, 6, 6, CONV_OUT, CONV_OUT, 3, 3, 1, 1, 1, 1, 1, 1>(
        &weight,
        Some(&bias),
        &x,
        &mut y,
    )?;
    let mut pooled: [Pooled; 2] = [[[[0.0; POOL_OUT]; POOL_OUT]; 4]; 2];
    pool::max_pool2d_forward::<
        f32,
        4,
        CONV_OUT,
        CONV_OUT,
        POOL_OUT,
        POOL_OUT,
        2,
        2,
        2,
        2,
        0,
        0,
        1,
        1,
    >(&y, &mut pooled)?;
    let mut dy: [Conv; 2] = [[[[0.0; CONV_OUT]; CONV_OUT]; 4]; 2];
    pool::max_pool2d_backward::<
        f32,
        4,
        CONV_OUT,
        CONV_OUT,
        POOL_OUT,
        POOL_OUT,
        2,
        2,
        2,
        2,
        0,
        0,
        1,
        1,
    >(&y, &pooled, &mut dy)?;
    let mut dx = [[[[0.0_f32; 6]; 6]; 2]; 2];
    let mut dweight = [[[[0.0_f32; 3]; 3]; 1]; 4];
    let mut dbias = [0.0_f32; 4];
    conv::conv2d_backward::<f32, 2, 4, 2, 1, 6, 6, CONV_OUT, CONV_OUT, 3, 3, 1, 1, 1, 1, 1, 1>(
        &weight,
        &x,
        &dy,
        &mut dx,
        &mut dweight,
        Some(&mut dbias),
    )?;
    Ok(dx[1][1][5][5] + dweight[3][0][2][2] + dbias[3])
}

/// A small CNN of the layer types on those kernels: conv, batch norm, ReLU,
/// max pool, grouped conv without bias, global average pool, flatten, linear.
#[network]
#[derive(Default)]
pub struct Cnn {
    conv1:
        constnorm::nn::Conv2d<1, 4, 1, 1, 6, 6, CONV_OUT, CONV_OUT, 3, 3, 1, 1, 1, 1, 1, 1, true>,
    bn1: Bn2d6,
    act1: constnorm::nn::Relu2d<4, CONV_OUT, CONV_OUT>,
    pool1:
        constnorm::nn::MaxPool2d<4, CONV_OUT, CONV_OUT, POOL_OUT, POOL_OUT, 2, 2, 2, 2, 0, 0, 1, 1>,
    conv2: constnorm::nn::Conv2d<
        4,
        2,
        2,
        2,
        POOL_OUT,
        POOL_OUT,
        POOL_OUT,
        POOL_OUT,
        3,
        3,
        1,
        1,
        1,
        1,
        1,
        1,
        false,
    >,
    gap: constnorm::nn::AdaptiveAvgPool2d<2, POOL_OUT, POOL_OUT>,
    flatten: constnorm::nn::Flatten<[[[f32; 1]; 1]; 2], 2>,
    out: Linear<2, 3>,
}

#[normalize(batch, dims = 4, spatial = [6, 6])]
pub struct Bn2d6;

/// One training step of [`Cnn`] with SGD: cross-entropy loss.
///
/// # Errors
/// Never in practice: the batches have the right sizes.
pub fn cnn_step() -> Result<f32, constnorm::NormError> {
    let mut net = Cnn::default();
    init_seeded(&mut net, 5);
    let mut ws = CnnWorkspace::<2>::new();
    let x = [[[[0.5_f32; 6]; 6]; 1], [[[-0.25; 6]; 6]; 1]];
    let mut dlogits = [[0.0; 3]; 2];
    let logits = net.forward_train(&x, &mut ws)?;
    let loss = cross_entropy(logits, &[0, 2], &mut dlogits)?;
    let mut grads = CnnGrads::default();
    net.backward(&x, &mut ws, &dlogits, &mut grads)?;
    Sgd::new(0.1, 0.9).step(&mut net, &grads);
    Ok(loss)
}

/// Streaming inference of a GRU: one step per call, the state kept by the
/// caller, no heap.
#[must_use]
pub fn streaming_gru_step(state: &mut [[f32; 8]; 1], x: &[f32; 3]) -> [f32; 8] {
    let mut gru = constnorm::nn::Gru::<3, 8, 16>::new();
    init_seeded(&mut gru, 7);
    gru.step(x, state)
}

/// Silero VAD's streaming step (feature `models`): the network and a stream
/// in statics the caller provides, one chunk per call, no heap.
///
/// # Errors
/// [`constnorm::NormError::RowCountMismatch`] for a chunk that is not 512
/// samples.
pub fn vad_step(
    vad: &constnorm::models::silero_vad::SileroVad16k,
    stream: &mut constnorm::models::silero_vad::VadStream<
        constnorm::models::silero_vad::Encoder16k,
    >,
    chunk: &[f32],
) -> Result<f32, constnorm::NormError> {
    stream.process(vad, chunk)
}
