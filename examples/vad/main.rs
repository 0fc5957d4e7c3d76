//! Voice activity detection with Silero VAD v6, from the package's own
//! weights, streamed chunk by chunk as the package does.
//!
//! ```text
//! cargo run --release --example vad -- FILE.wav           # speech segments, seconds
//! cargo run --release --example vad -- --probs FILE.wav   # one line per chunk
//! ```
//!
//! The file must be 16-bit PCM mono at 16 kHz or 8 kHz; its rate picks the
//! network (`models/silero_vad/silero_vad_16k.safetensors` or `_8k`). Each
//! call gets 512 new samples at 16 kHz (256 at 8 kHz) after the last 64
//! (32) of the previous call's input, and the LSTM state of the previous
//! call; the last chunk is padded with zeros. The segments are those of the
//! package's `get_speech_timestamps` with its defaults (threshold 0.5),
//! rounded to tenths of a second. Try it on `models/silero_vad/speech_16k.wav`.

mod segments;
mod wav;

use constnorm::models::silero_vad::{Encoder8k, Encoder16k, Rate, SileroVad, VadStream};
use std::error::Error;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

const USAGE: &str = "usage: vad [--probs] FILE.wav (16-bit PCM mono, 16 or 8 kHz)";

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        // `vad --probs FILE | head`: the reader left; nothing is wrong.
        Err(e)
            if e.downcast_ref::<std::io::Error>()
                .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe) =>
        {
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("vad: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), Box<dyn Error>> {
    let mut probs = false;
    let mut file = None;
    for arg in std::env::args_os().skip(1) {
        match arg.to_str() {
            Some("--probs") => probs = true,
            Some("-h" | "--help") => {
                println!("{USAGE}");
                return Ok(());
            }
            Some(flag) if flag.starts_with("--") => {
                return Err(format!("unknown option {flag}\n{USAGE}").into());
            }
            _ if file.is_some() => return Err(format!("one file at a time\n{USAGE}").into()),
            _ => file = Some(PathBuf::from(arg)),
        }
    }
    let file = file.ok_or(USAGE)?;
    let bytes = std::fs::read(&file).map_err(|e| format!("{}: {e}", file.display()))?;
    let audio = wav::parse_wav(&bytes).map_err(|e| format!("{}: {e}", file.display()))?;
    match audio.sample_rate {
        16_000 => detect::<Encoder16k>(&audio, "silero_vad_16k.safetensors", probs),
        8_000 => detect::<Encoder8k>(&audio, "silero_vad_8k.safetensors", probs),
        rate => Err(format!(
            "{}: the sample rate is {rate} Hz; Silero VAD takes 16000 or 8000 Hz (resample first)",
            file.display()
        )
        .into()),
    }
}

/// Streams the audio through the network of its rate and prints the
/// probabilities or the segments.
fn detect<E: Rate>(audio: &wav::Wav, weights: &str, probs: bool) -> Result<(), Box<dyn Error>> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("models/silero_vad")
        .join(weights);
    let bytes = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let vad =
        SileroVad::<E>::from_safetensors(&bytes).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut out = std::io::stdout().lock();
    let mut stream = VadStream::<E>::new();
    let mut chunk = vec![0.0_f32; E::CHUNK];
    let mut all = Vec::with_capacity(audio.samples.len().div_ceil(E::CHUNK));
    for (i, samples) in audio.samples.chunks(E::CHUNK).enumerate() {
        chunk[..samples.len()].copy_from_slice(samples);
        chunk[samples.len()..].fill(0.0);
        let p = stream.process(&vad, &chunk)?;
        if probs {
            writeln!(out, "{i} {p:.6}")?;
        }
        all.push(p);
    }
    if !probs {
        let rate = audio.sample_rate;
        let params = segments::SpeechParams::default();
        let found = segments::speech_segments(&all, rate, audio.samples.len(), &params);
        for s in segments::segments_to_seconds(&found, rate, audio.samples.len(), 1) {
            writeln!(out, "{:.1} {:.1}", s.start, s.end)?;
        }
    }
    Ok(())
}
