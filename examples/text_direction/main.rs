//! Is a text line upright or upside down? PP-OCR's text-direction
//! classifier, from the package's own weights, on PNG images.
//!
//! ```text
//! cargo run --release --example text_direction -- IMAGE.png...
//! ```
//!
//! prints one line per image: `path label probability_0 probability_180`.
//! Each image is prepared as the package (`rapidocr-onnxruntime` 1.4.4,
//! `resize_norm_img`) prepares it: read as B, G, R; resized to height 48
//! and width `min(192, ceil(48 w / h))` with OpenCV's bilinear
//! `INTER_LINEAR`, bit for bit (`resize.rs`); then `v / 255`, `(t - 0.5) /
//! 0.5`, and zeros on the right up to 192. The images are classified six at
//! a time, the package's batch. Try it on `models/ppocr_cls/images/*.png`.

mod resize;

use constnorm::Network;
use constnorm::models::ppocr_cls::{self, HEIGHT, Image, LABELS, TextDirection};
use std::error::Error;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

const USAGE: &str = "usage: text_direction IMAGE.png... (8-bit or 16-bit PNG, gray, RGB or RGBA)";
/// The package's batch (`cls_batch_num`).
const BATCH: usize = 6;

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e)
            if e.downcast_ref::<std::io::Error>()
                .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe) =>
        {
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("text_direction: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), Box<dyn Error>> {
    let paths: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    if paths.is_empty()
        || paths
            .iter()
            .any(|p| p.as_os_str() == "--help" || p.as_os_str() == "-h")
    {
        return Err(USAGE.into());
    }
    // Every image is read and prepared before any is classified, so a bad
    // file is reported before any output.
    let mut images = Vec::with_capacity(paths.len());
    for path in &paths {
        images.push(prepare(path).map_err(|e| format!("{}: {e}", path.display()))?);
    }
    let weights = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("models/ppocr_cls/ch_ppocr_mobile_v2.0_cls.safetensors");
    let bytes = std::fs::read(&weights).map_err(|e| format!("{}: {e}", weights.display()))?;
    let net = TextDirection::from_safetensors(&bytes)
        .map_err(|e| format!("{}: {e}", weights.display()))?;
    let mut workspace = <TextDirection as Network>::Workspace::<BATCH>::new_boxed();
    let mut batch: Box<[Image; BATCH]> = vec![[[[0.0; ppocr_cls::WIDTH]; HEIGHT]; 3]; BATCH]
        .into_boxed_slice()
        .try_into()
        .map_err(|_| "batch")?;
    let mut out = std::io::stdout().lock();
    for (paths, images) in paths.chunks(BATCH).zip(images.chunks(BATCH)) {
        // A partial last batch runs whole; its unused rows are ignored.
        for (slot, image) in batch.iter_mut().zip(images) {
            *slot = **image;
        }
        let probs = net.forward_eval(&batch, &mut workspace)?;
        for (path, p) in paths.iter().zip(probs) {
            // The package's ClsPostProcess: the arg max, the first on a tie.
            let label = LABELS[usize::from(p[1] > p[0])];
            writeln!(out, "{} {label} {:.6} {:.6}", path.display(), p[0], p[1])?;
        }
    }
    Ok(())
}

/// A PNG file as the network's input.
fn prepare(path: &Path) -> Result<Box<Image>, Box<dyn Error>> {
    let file = std::fs::File::open(path)?;
    let mut decoder = png::Decoder::new(std::io::BufReader::new(file));
    // Palettes and low bit depths expanded, 16-bit samples cut to 8 (what
    // OpenCV's imread gives by default).
    decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    let mut reader = decoder.read_info()?;
    let mut pixels = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut pixels)?;
    let (width, height) = (info.width as usize, info.height as usize);
    let channels = info.color_type.samples();
    let pixels = &pixels[..info.buffer_size()];
    // B, G, R, interleaved, as OpenCV reads a color image (alpha dropped,
    // gray repeated).
    let bgr: Vec<u8> = pixels
        .chunks_exact(channels)
        .flat_map(|p| match channels {
            1 | 2 => [p[0]; 3],
            _ => [p[2], p[1], p[0]],
        })
        .collect();
    // The package's width rule: ceil(48 w / h), at most 192.
    let resized_width = (HEIGHT * width).div_ceil(height).clamp(1, ppocr_cls::WIDTH);
    let resized = if (width, height) == (resized_width, HEIGHT) {
        bgr
    } else {
        resize::resize_linear_u8(&bgr, width, height, 3, resized_width, HEIGHT)
    };
    let plane = |c: usize| -> Vec<u8> { resized.chunks_exact(3).map(|p| p[c]).collect() };
    let (b, g, r) = (plane(0), plane(1), plane(2));
    let mut image = Box::new([[[0.0; ppocr_cls::WIDTH]; HEIGHT]; 3]);
    ppocr_cls::preprocess([&b, &g, &r], resized_width, &mut image);
    Ok(image)
}
