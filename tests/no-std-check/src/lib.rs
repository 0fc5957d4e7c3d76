//! Generated layers of every kind under `#![no_std]`, without `alloc`: a
//! forward and backward pass on fixed-size arrays. CI builds this crate on
//! its own (`cargo build -p norm-no-std-check`), so constnorm is compiled
//! without its `std` feature (square roots come from libm).
#![no_std]

use constnorm::{Layer as _, Normalization, normalize};

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
