//! NumPy's `.npy` files of `f32`, to hand data to and from Python: the
//! inputs and outputs an imported network is checked with against ONNX
//! Runtime (`constnorm-onnx`'s generated `check`), or any batch of rows.
//!
//! Only what `numpy.save` writes for a C-order `float32` array is read
//! (format versions 1 to 3, `descr` `<f4`); anything else is an
//! [`NpyError`] that says what the file holds instead.
//!
//! ```
//! use constnorm::runtime::npy;
//! let bytes = npy::to_bytes(&[2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
//! let array = npy::read(&bytes)?;
//! assert_eq!(array.shape, [2, 3]);
//! assert_eq!(array.data[5], 6.0);
//! # Ok::<(), npy::NpyError>(())
//! ```

use std::boxed::Box;
use std::fmt;
use std::string::{String, ToString};
use std::vec::Vec;

use crate::{Network, Parameters, Row};

const MAGIC: &[u8] = b"\x93NUMPY";

/// A C-order `f32` array read from a `.npy` file.
#[derive(Clone, Debug, PartialEq)]
pub struct Array {
    /// The dimensions, outermost first (`[]` for a scalar).
    pub shape: Vec<usize>,
    /// The values, C order.
    pub data: Vec<f32>,
}

/// Why a `.npy` file could not be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NpyError(String);

impl fmt::Display for NpyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "not a C-order float32 .npy file: {}", self.0)
    }
}

impl std::error::Error for NpyError {}

fn err<T>(why: impl ToString) -> Result<T, NpyError> {
    Err(NpyError(why.to_string()))
}

/// Reads a `.npy` file's bytes.
///
/// # Errors
/// [`NpyError`] for a file that is not `.npy`, not little-endian `float32`,
/// in Fortran order, or whose data does not fill its shape.
pub fn read(bytes: &[u8]) -> Result<Array, NpyError> {
    let Some(rest) = bytes.strip_prefix(MAGIC) else {
        return err("no \\x93NUMPY magic at the start");
    };
    let (len, start) = match rest {
        [1, _, a, b, ..] => (usize::from(u16::from_le_bytes([*a, *b])), 10usize),
        [2 | 3, _, a, b, c, d, ..] => {
            let len = u32::from_le_bytes([*a, *b, *c, *d]);
            (usize::try_from(len).unwrap_or(usize::MAX), 12)
        }
        [v, ..] => return err(format_args!("format version {v}")),
        [] => return err("the file ends after the magic"),
    };
    let Some(header) = bytes.get(start..start.saturating_add(len)) else {
        return err(format_args!(
            "a header of {len} bytes in a file of {}",
            bytes.len()
        ));
    };
    let header = String::from_utf8_lossy(header);
    let value = |key: &str| -> Option<&str> {
        let at = header.find(&format!("'{key}':"))? + key.len() + 3;
        Some(header[at..].trim_start())
    };
    let descr = value("descr").and_then(|v| v.strip_prefix('\'')?.split('\'').next());
    match descr {
        Some("<f4" | "=f4") => {}
        Some(other) => {
            return err(format_args!(
                "dtype `{other}` (save it with .astype(numpy.float32))"
            ));
        }
        None => return err("no `descr` in the header"),
    }
    if value("fortran_order").is_none_or(|v| !v.starts_with("False")) {
        return err("Fortran order (save a C-order array: numpy.ascontiguousarray)");
    }
    let Some(dims) = value("shape").and_then(|v| v.strip_prefix('(')?.split(')').next()) else {
        return err("no `shape` in the header");
    };
    let mut shape = Vec::new();
    for d in dims.split(',').map(str::trim).filter(|d| !d.is_empty()) {
        match d.parse::<usize>() {
            Ok(d) => shape.push(d),
            Err(_) => return err(format_args!("dimension `{d}` in the shape")),
        }
    }
    let count = shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d));
    let data = &bytes[start + len..];
    if count.and_then(|c| c.checked_mul(4)) != Some(data.len()) {
        return err(format_args!(
            "{} bytes of data for shape {shape:?}",
            data.len()
        ));
    }
    let data = data
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    Ok(Array { shape, data })
}

/// A `.npy` file (format 1.0, C order, `<f4`) of `data` with `shape`.
///
/// # Panics
/// If `data` does not have the product of `shape` values.
#[must_use]
pub fn to_bytes(shape: &[usize], data: &[f32]) -> Vec<u8> {
    assert_eq!(
        shape.iter().product::<usize>(),
        data.len(),
        "npy::to_bytes: {} values for shape {shape:?}",
        data.len()
    );
    let dims: Vec<String> = shape.iter().map(ToString::to_string).collect();
    let dims = match dims.as_slice() {
        [one] => format!("{one},"),
        _ => dims.join(", "),
    };
    let mut header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': ({dims}), }}");
    // Magic, version and length are 10 bytes; the whole is a multiple of
    // 64 ending in a newline, as numpy writes it.
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut out = Vec::with_capacity(10 + header.len() + 4 * data.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&[1, 0]);
    let len = u16::try_from(header.len()).unwrap_or(u16::MAX);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    for v in data {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out
}

/// The eval forward of `net` on every example of a `.npy` file's bytes
/// (`f32`, C order, `[N, ...]` with one example's shape after `N`, any
/// `N`), run through `workspace` in chunks of `B` (the last partial), as
/// the bytes of a `.npy` file of `[N, ...]` outputs: what the generated
/// `check` of an imported network runs, to compare with ONNX Runtime.
///
/// # Errors
/// A file that is not such an array (the message gives the shape
/// expected), or what a layer reports.
pub fn forward_eval<N, const B: usize>(
    net: &N,
    workspace: &mut N::Workspace<B>,
    npy_bytes: &[u8],
) -> Result<Vec<u8>, Box<dyn std::error::Error + Send + Sync>>
where
    N: Network + Parameters<Scalar = f32>,
{
    let x = read(npy_bytes)?;
    let example = <N::Input as Row>::SHAPE;
    if x.shape.len() != example.len() + 1 || x.shape[1..] != *example {
        let dims: Vec<String> = example.iter().map(ToString::to_string).collect();
        let why = format!(
            "an array of shape {:?} where [N, {}] is expected",
            x.shape,
            dims.join(", ")
        );
        return Err(why.into());
    }
    let mut rows: Vec<N::Input> = Vec::with_capacity(x.shape[0]);
    for values in x.data.chunks_exact(<N::Input as Row>::LEN) {
        let mut row = <N::Input as Row>::ZERO;
        row.as_flat_mut().copy_from_slice(values);
        rows.push(row);
    }
    let mut y = vec![<N::Output as Row>::ZERO; rows.len()];
    if !rows.is_empty() {
        net.forward_eval_slice(&rows, workspace, &mut y)?;
    }
    let mut shape = vec![rows.len()];
    shape.extend_from_slice(<N::Output as Row>::SHAPE);
    let flat: Vec<f32> = y.iter().flat_map(|r| r.as_flat().iter().copied()).collect();
    Ok(to_bytes(&shape, &flat))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_numpy_header() {
        let bytes = to_bytes(&[2, 1, 3], &[1.0, -2.5, 3.0, 0.0, f32::MIN_POSITIVE, 7.0]);
        assert_eq!(&bytes[..8], b"\x93NUMPY\x01\x00");
        assert_eq!(bytes.len() % 4, 0);
        let header_end = 10 + usize::from(u16::from_le_bytes([bytes[8], bytes[9]]));
        assert_eq!(header_end % 64, 0);
        assert_eq!(bytes[header_end - 1], b'\n');
        let a = read(&bytes).unwrap();
        assert_eq!(a.shape, [2, 1, 3]);
        assert_eq!(a.data, [1.0, -2.5, 3.0, 0.0, f32::MIN_POSITIVE, 7.0]);
        let one = read(&to_bytes(&[3], &[1.0, 2.0, 3.0])).unwrap();
        assert_eq!(one.shape, [3]);
    }

    #[test]
    fn refuses_what_it_cannot_read() {
        let good = to_bytes(&[2], &[1.0, 2.0]);
        let text = |b: &[u8]| read(b).unwrap_err().to_string();
        assert!(text(b"PK\x03\x04").contains("magic"));
        // The header edited in place, bytes of the same length.
        let edit = |from: &[u8], to: &[u8]| {
            let mut b = good.clone();
            let at = b.windows(from.len()).position(|w| w == from).unwrap();
            b[at..at + to.len()].copy_from_slice(to);
            b
        };
        assert!(text(&edit(b"<f4", b"<f8")).contains("`<f8`"));
        assert!(text(&edit(b"False", b"True ")).contains("Fortran"));
        assert!(text(&good[..good.len() - 1]).contains("bytes of data"));
        for cut in 0..good.len() {
            // Every truncation is an error, never a panic.
            let _ = read(&good[..cut]);
        }
    }
}
