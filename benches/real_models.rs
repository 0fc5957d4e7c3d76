//! The shipped real models (issue 20), one thread, on the shipped inputs:
//! `benches/real_models.py` times ONNX Runtime on the same ones.
//!
//! - Silero VAD v6 at 16 kHz and 8 kHz, streamed over its WAV as the
//!   package does (context samples, carried state): every chunk timed on
//!   its own over 20 passes of the file, printed as median, p99, mean,
//!   chunks per second and real-time factor (time per chunk / 32 ms); and
//!   criterion's time for one chunk (`vad/16k/chunk`).
//! - PP-OCR's text-direction classifier at batch 1 and 6 (the package's
//!   batch) on the shipped images, and the batch of 6 run through a batch-1
//!   workspace with `forward_eval_slice` (criterion; throughput in images).
//!
//! Before timing, the VAD's probabilities and the classifier's outputs
//! must match ONNX Runtime's (reference.json) within 1e-5, or the bench
//! panics. `cargo bench --bench real_models` (filter: `-- vad`, `-- ocr`).

use constnorm::Network;
use constnorm::models::ppocr_cls::{self, Image, TextDirection};
use constnorm::models::silero_vad::{Encoder8k, Encoder16k, Rate, SileroVad, VadStream};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use std::path::PathBuf;
use std::time::{Duration, Instant};

#[path = "../examples/vad/wav.rs"]
#[allow(dead_code)]
mod wav;

fn model_file(path: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("models")
        .join(path);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn reference() -> serde_json::Value {
    serde_json::from_slice(&model_file("silero_vad/reference.json")).unwrap()
}

/// The file's chunks as the package cuts them (the last padded).
fn chunks<E: Rate>(wav: &str) -> Vec<Vec<f32>> {
    let audio = wav::parse_wav(&model_file(wav)).unwrap();
    assert_eq!(audio.sample_rate, E::SAMPLE_RATE);
    audio
        .samples
        .chunks(E::CHUNK)
        .map(|c| {
            let mut c = c.to_vec();
            c.resize(E::CHUNK, 0.0);
            c
        })
        .collect()
}

/// Checks the streamed probabilities against ONNX Runtime's, then times
/// every chunk of `passes` passes over the file and prints the figures.
fn vad_percentiles<E: Rate>(vad: &SileroVad<E>, chunks: &[Vec<f32>], passes: usize) {
    let theirs = reference()[E::SAMPLE_RATE.to_string()]["probs_onnxruntime"].clone();
    let theirs: Vec<f64> = serde_json::from_value(theirs).unwrap();
    let mut stream = VadStream::<E>::new();
    for (chunk, theirs) in chunks.iter().zip(&theirs) {
        let p = stream.process(vad, chunk).unwrap();
        assert!(
            (f64::from(p) - theirs).abs() <= 1e-5,
            "{p} against {theirs}"
        );
    }
    let mut times = Vec::with_capacity(passes * chunks.len());
    for _ in 0..passes {
        stream.reset();
        for chunk in chunks {
            let start = Instant::now();
            black_box(stream.process(vad, black_box(chunk)).unwrap());
            times.push(start.elapsed());
        }
    }
    times.sort_unstable();
    let at = |q: f64| times[((times.len() - 1) as f64 * q).round() as usize];
    let mean = times.iter().sum::<Duration>() / times.len() as u32;
    let chunk_seconds = E::CHUNK as f64 / f64::from(E::SAMPLE_RATE);
    println!(
        "vad/{}k per chunk over {} chunks: median {:.1} us, p99 {:.1} us, mean {:.1} us, {:.0} chunks/s, real-time factor {:.5}",
        E::SAMPLE_RATE / 1000,
        times.len(),
        at(0.5).as_secs_f64() * 1e6,
        at(0.99).as_secs_f64() * 1e6,
        mean.as_secs_f64() * 1e6,
        1.0 / mean.as_secs_f64(),
        mean.as_secs_f64() / chunk_seconds,
    );
}

fn vad(c: &mut Criterion) {
    let vad16 = SileroVad::<Encoder16k>::from_safetensors(&model_file(
        "silero_vad/silero_vad_16k.safetensors",
    ))
    .unwrap();
    let vad8 = SileroVad::<Encoder8k>::from_safetensors(&model_file(
        "silero_vad/silero_vad_8k.safetensors",
    ))
    .unwrap();
    let chunks16 = chunks::<Encoder16k>("silero_vad/speech_16k.wav");
    let chunks8 = chunks::<Encoder8k>("silero_vad/speech_8k.wav");
    vad_percentiles(&vad16, &chunks16, 20);
    vad_percentiles(&vad8, &chunks8, 20);
    let mut group = c.benchmark_group("vad");
    group.throughput(Throughput::Elements(1));
    let mut stream = VadStream::<Encoder16k>::new();
    let mut i = 0;
    group.bench_function("16k/chunk", |b| {
        b.iter(|| {
            i = (i + 1) % chunks16.len();
            stream.process(&vad16, black_box(&chunks16[i])).unwrap()
        });
    });
    let mut stream = VadStream::<Encoder8k>::new();
    group.bench_function("8k/chunk", |b| {
        b.iter(|| {
            i = (i + 1) % chunks8.len();
            stream.process(&vad8, black_box(&chunks8[i])).unwrap()
        });
    });
    group.finish();
}

/// The shipped images, prepared as the package prepares them (B, G, R; no
/// resize needed), with ONNX Runtime's probabilities.
fn images() -> Vec<(Box<Image>, [f64; 2])> {
    let reference: serde_json::Value =
        serde_json::from_slice(&model_file("ppocr_cls/reference.json")).unwrap();
    let cases = reference["cases"].as_array().unwrap();
    cases
        .iter()
        .map(|case| {
            let name = case["image"].as_str().unwrap();
            let bytes = model_file(&format!("ppocr_cls/images/{name}"));
            let mut decoder = png::Decoder::new(std::io::Cursor::new(bytes));
            decoder.set_transformations(png::Transformations::EXPAND);
            let mut reader = decoder.read_info().unwrap();
            let mut buffer = vec![0; reader.output_buffer_size()];
            let info = reader.next_frame(&mut buffer).unwrap();
            let channels = info.color_type.samples();
            let pixels = &buffer[..info.buffer_size()];
            let plane = |c: usize| -> Vec<u8> {
                pixels
                    .chunks_exact(channels)
                    .map(|p| p[c.min(channels - 1)])
                    .collect()
            };
            let mut image = Box::new([[[0.0; ppocr_cls::WIDTH]; ppocr_cls::HEIGHT]; 3]);
            ppocr_cls::preprocess(
                [&plane(2), &plane(1), &plane(0)],
                info.width as usize,
                &mut image,
            );
            let probs = case["probs_onnxruntime"].as_array().unwrap();
            (
                image,
                [probs[0].as_f64().unwrap(), probs[1].as_f64().unwrap()],
            )
        })
        .collect()
}

/// Times the classifier on batches of `B` of the shipped images.
fn ocr_batch<const B: usize>(
    c: &mut Criterion,
    net: &TextDirection,
    images: &[(Box<Image>, [f64; 2])],
) {
    let batches: Vec<Box<[Image; B]>> = images
        .chunks_exact(B)
        .map(|chunk| {
            let mut batch: Box<[Image; B]> =
                vec![*chunk[0].0; B].into_boxed_slice().try_into().unwrap();
            for (slot, (image, _)) in batch.iter_mut().zip(chunk) {
                *slot = **image;
            }
            batch
        })
        .collect();
    let mut workspace = <TextDirection as Network>::Workspace::<B>::new_boxed();
    for (batch, chunk) in batches.iter().zip(images.chunks_exact(B)) {
        let probs = net.forward_eval(batch, &mut workspace).unwrap();
        for (ours, (_, theirs)) in probs.iter().zip(chunk) {
            for (a, b) in ours.iter().zip(theirs) {
                assert!((f64::from(*a) - b).abs() <= 1e-5, "{a} against {b}");
            }
        }
    }
    let mut group = c.benchmark_group("ocr");
    group.throughput(Throughput::Elements(B as u64));
    let mut i = 0;
    group.bench_function(BenchmarkId::new("batch", B), |b| {
        b.iter(|| {
            i = (i + 1) % batches.len();
            net.forward_eval(black_box(&batches[i]), &mut workspace)
                .unwrap()[0]
        });
    });
    group.finish();
}

fn ocr(c: &mut Criterion) {
    let net = TextDirection::from_safetensors(&model_file(
        "ppocr_cls/ch_ppocr_mobile_v2.0_cls.safetensors",
    ))
    .unwrap();
    let images = images();
    ocr_batch::<1>(c, &net, &images);
    ocr_batch::<6>(c, &net, &images);
    // The package's batch of 6 through a batch-1 workspace
    // (`forward_eval_slice`): six passes whose activations stay in cache.
    let six: Vec<Image> = images.iter().take(6).map(|(image, _)| **image).collect();
    let mut workspace = <TextDirection as Network>::Workspace::<1>::new_boxed();
    let mut probs = [[0.0_f32; 2]; 6];
    let mut group = c.benchmark_group("ocr");
    group.throughput(Throughput::Elements(6));
    group.bench_function("batch/6_as_1", |b| {
        b.iter(|| {
            net.forward_eval_slice(black_box(&six), &mut workspace, &mut probs)
                .unwrap();
            probs[0]
        });
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(4));
    targets = vad, ocr
}
criterion_main!(benches);
