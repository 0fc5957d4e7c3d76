//! Finite differences for the gradient tests.

/// A derivative by finite differences, and a bound on its error.
///
/// Central differences with steps `h` and `h / 2`, combined by Richardson
/// extrapolation (error O(h^4)); the two estimates' difference bounds the
/// error. It is tiny for well-conditioned inputs and grows only where the
/// function is strongly curved, as near a zero-variance channel, where the
/// normalization's gradient changes fast.
pub fn richardson(mut f: impl FnMut(f64) -> f64, h: f64) -> (f64, f64) {
    let mut central = |h: f64| (f(h) - f(-h)) / (2.0 * h);
    let (coarse, fine) = (central(h), central(h / 2.0));
    ((4.0 * fine - coarse) / 3.0, (fine - coarse).abs())
}
