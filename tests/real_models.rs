//! The shipped real models (models/, copied from the packages' files with
//! their reference outputs; licences in models/README.md) against ONNX
//! Runtime, the runtime their packages use: Silero VAD v6 streamed over
//! both shipped WAVs, chunk by chunk as the package does, and PP-OCR's
//! text-direction classifier on every shipped image; batches against one
//! example at a time; the streamed LSTM state against one long sequence;
//! refused inputs.

use constnorm::models::silero_vad::{
    Encoder8k, Encoder16k, HIDDEN, Rate, SileroVad, SileroVad8k, SileroVad16k, State, VadStream,
};
use constnorm::nn::{LstmCell, Recurrent};
use constnorm::safetensors::LoadError;
use constnorm::{Network, NormError, Row};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::PathBuf;

#[path = "../examples/vad/wav.rs"]
#[allow(dead_code)]
mod wav;

fn model_file(path: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("models")
        .join(path);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// One rate's part of models/silero_vad/reference.json.
#[derive(Deserialize)]
struct VadReference {
    sample_rate: u32,
    chunk: usize,
    context: usize,
    chunks: usize,
    probs_onnxruntime: Vec<f64>,
    final_state_onnxruntime: Vec<Vec<f64>>,
}

fn vad_reference(rate: u32) -> VadReference {
    let json = model_file("silero_vad/reference.json");
    let mut all: BTreeMap<String, serde_json::Value> = serde_json::from_slice(&json).unwrap();
    serde_json::from_value(all.remove(&rate.to_string()).unwrap()).unwrap()
}

/// The samples of a shipped WAV in `[-1, 1]` (i16 / 32768, as the package
/// reads them) and its rate.
fn speech(name: &str) -> (u32, Vec<f32>) {
    let wav = wav::parse_wav(&model_file(name)).unwrap();
    (wav.sample_rate, wav.samples)
}

/// The chunks of `samples` as the package cuts them: `CHUNK` samples each,
/// the last one padded with zeros.
fn chunks<E: Rate>(samples: &[f32]) -> Vec<Vec<f32>> {
    samples
        .chunks(E::CHUNK)
        .map(|c| {
            let mut c = c.to_vec();
            c.resize(E::CHUNK, 0.0);
            c
        })
        .collect()
}

fn load<E: Rate>(file: &str) -> Box<SileroVad<E>> {
    SileroVad::<E>::from_safetensors(&model_file(file)).expect("the shipped weights load")
}

/// Streams the shipped WAV of `E`'s rate and compares every chunk's
/// probability and the final state with ONNX Runtime's.
fn vad_matches_onnx_runtime<E: Rate>(weights: &str, wav: &str) {
    let reference = vad_reference(E::SAMPLE_RATE);
    assert_eq!(
        (reference.sample_rate, reference.chunk, reference.context),
        (E::SAMPLE_RATE, E::CHUNK, E::CONTEXT)
    );
    let vad = load::<E>(weights);
    let (rate, samples) = speech(wav);
    assert_eq!(rate, E::SAMPLE_RATE);
    let chunks = chunks::<E>(&samples);
    assert_eq!(chunks.len(), reference.chunks);
    let mut stream = VadStream::<E>::new();
    let mut worst = 0.0_f64;
    for (i, (chunk, theirs)) in chunks.iter().zip(&reference.probs_onnxruntime).enumerate() {
        let p = stream.process(&vad, chunk).unwrap();
        let diff = (f64::from(p) - theirs).abs();
        assert!(
            diff <= 1e-5,
            "{wav} chunk {i}: {p} against ONNX Runtime's {theirs}"
        );
        worst = worst.max(diff);
    }
    // The final state: h within 1e-5; c (up to about 36 here) relative.
    let state = stream.state();
    for (k, (ours, theirs)) in state
        .iter()
        .zip(&reference.final_state_onnxruntime)
        .enumerate()
    {
        for (a, b) in ours.iter().zip(theirs) {
            let diff = (f64::from(*a) - b).abs();
            assert!(
                diff <= 1e-5 * b.abs().max(1.0),
                "{wav} state[{k}]: {a} against {b}"
            );
        }
    }
    eprintln!(
        "{wav}: {} chunks, worst difference from ONNX Runtime {worst:.2e}",
        chunks.len()
    );
}

#[test]
fn vad_16k_matches_onnx_runtime_on_every_chunk() {
    vad_matches_onnx_runtime::<Encoder16k>(
        "silero_vad/silero_vad_16k.safetensors",
        "silero_vad/speech_16k.wav",
    );
}

#[test]
fn vad_8k_matches_onnx_runtime_on_every_chunk() {
    vad_matches_onnx_runtime::<Encoder8k>(
        "silero_vad/silero_vad_8k.safetensors",
        "silero_vad/speech_8k.wav",
    );
}

/// The first `B` chunks' inputs (context + chunk) as the stream builds them.
fn inputs<E: Rate, const B: usize>(chunks: &[Vec<f32>]) -> Box<[E::Input; B]> {
    let mut x = Box::new([E::Input::ZERO; B]);
    let mut previous = vec![0.0_f32; E::CONTEXT + E::CHUNK];
    for (x, chunk) in x.iter_mut().zip(chunks) {
        let samples = x.as_flat_mut();
        samples[..E::CONTEXT].copy_from_slice(&previous[E::CHUNK..]);
        samples[E::CONTEXT..].copy_from_slice(chunk);
        previous.copy_from_slice(samples);
    }
    x
}

#[test]
fn vad_batch_gives_each_call_its_streamed_numbers() {
    // Eight streams at once, each one call into the shipped file at its own
    // place with the state the stream had there: the batch gives each the
    // bits it gets alone.
    const B: usize = 8;
    let vad = load::<Encoder16k>("silero_vad/silero_vad_16k.safetensors");
    let (_, samples) = speech("silero_vad/speech_16k.wav");
    let chunks = chunks::<Encoder16k>(&samples);
    let starts: [usize; B] = [0, 40, 90, 130, 200, 260, 330, 400];
    let all = inputs::<Encoder16k, 418>(&chunks);
    let mut stream = VadStream::<Encoder16k>::new();
    let mut states = [[[0.0; HIDDEN]; 2]; B];
    let mut x = [<Encoder16k as Network>::Input::ZERO; B];
    let mut alone = [0.0; B];
    let mut b = 0;
    for (i, chunk) in chunks.iter().enumerate() {
        if b < B && i == starts[b] {
            states[b] = *stream.state();
            x[b] = all[i];
        }
        let p = stream.process(&vad, chunk).unwrap();
        if b < B && i == starts[b] {
            alone[b] = p;
            b += 1;
        }
    }
    let mut workspace = <Encoder16k as Network>::Workspace::<B>::new_boxed();
    let mut batch_states = states;
    let together = vad.forward(&x, &mut batch_states, &mut workspace).unwrap();
    assert_eq!(together, alone);
    // A stream that restarts gives the first chunk's number again.
    stream.reset();
    assert_eq!(stream.process(&vad, &chunks[0]).unwrap(), alone[0]);
}

#[test]
fn vad_streamed_state_is_the_state_after_one_long_sequence() {
    // The encoder's features of the first 64 chunks, through the cell as
    // one sequence (Recurrent<LstmCell, 64>, from a zero state), end in the
    // state the stream carried there, bit for bit.
    const S: usize = 64;
    let vad = load::<Encoder16k>("silero_vad/silero_vad_16k.safetensors");
    let (_, samples) = speech("silero_vad/speech_16k.wav");
    let chunks = chunks::<Encoder16k>(&samples);
    let x = inputs::<Encoder16k, S>(&chunks);
    let mut workspace = <Encoder16k as Network>::Workspace::<S>::new_boxed();
    let features = vad.encoder.forward_eval(&x, &mut workspace).unwrap();
    let sequence: Box<[[[f32; HIDDEN]; S]; 1]> = Box::new([std::array::from_fn(|t| {
        std::array::from_fn(|i| features[t][i][0])
    })]);
    let lstm = Recurrent::<LstmCell<HIDDEN, HIDDEN>, S>::from_cell(vad.rnn.clone());
    let mut hidden = Box::new([[[0.0_f32; HIDDEN]; S]; 1]);
    let mut last: [State; 1] = [[[0.0; HIDDEN]; 2]];
    lstm.forward_sequence(&*sequence, &[[[0.0; HIDDEN]; 2]], &mut *hidden, &mut last)
        .unwrap();
    let mut stream = VadStream::<Encoder16k>::new();
    for chunk in &chunks[..S] {
        stream.process(&vad, chunk).unwrap();
    }
    assert_eq!(*stream.state(), last[0]);
}

#[test]
fn vad_refuses_a_chunk_of_another_length_and_changes_nothing() {
    let vad = load::<Encoder8k>("silero_vad/silero_vad_8k.safetensors");
    let mut stream = VadStream::<Encoder8k>::new();
    stream.process(&vad, &[0.25; 256]).unwrap();
    let before = *stream.state();
    let refused = stream.process(&vad, &[0.25; 512]);
    assert_eq!(
        refused,
        Err(NormError::RowCountMismatch {
            argument: "chunk",
            expected: 256,
            found: 512
        })
    );
    assert_eq!(*stream.state(), before);
    // The context is unchanged too: the next call gives what it would have.
    let mut fresh = VadStream::<Encoder8k>::new();
    fresh.process(&vad, &[0.25; 256]).unwrap();
    assert_eq!(
        stream.process(&vad, &[0.5; 256]),
        fresh.process(&vad, &[0.5; 256])
    );
}

#[test]
fn vad_weights_of_the_other_rate_or_a_bad_file_are_refused() {
    // The 8 kHz file into the 16 kHz network: a shape error, by name.
    let wrong = SileroVad16k::from_safetensors(&model_file("silero_vad/silero_vad_8k.safetensors"));
    match wrong {
        Err(LoadError::Shape { key, .. }) => assert_eq!(key, "stft.forward_basis_buffer"),
        other => panic!("expected a shape error, got {:?}", other.map(|_| ())),
    }
    assert!(matches!(
        SileroVad8k::from_safetensors(b"not a file"),
        Err(LoadError::Format(_))
    ));
    // Every truncation of the file is an error, never a panic.
    let bytes = model_file("silero_vad/silero_vad_8k.safetensors");
    for len in [0, 7, 8, 100, 1000, bytes.len() / 2, bytes.len() - 1] {
        assert!(
            SileroVad8k::from_safetensors(&bytes[..len]).is_err(),
            "{len} bytes"
        );
    }
}

#[path = "../examples/vad/segments.rs"]
#[allow(dead_code)]
mod segments;

/// The speech segments of a shipped WAV from our streamed probabilities,
/// in seconds, with the package's defaults.
fn segments_of<E: Rate>(weights: &str, wav: &str) -> Vec<(f64, f64)> {
    let vad = load::<E>(weights);
    let (rate, samples) = speech(wav);
    let mut stream = VadStream::<E>::new();
    let probs: Vec<f32> = chunks::<E>(&samples)
        .iter()
        .map(|c| stream.process(&vad, c).unwrap())
        .collect();
    let params = segments::SpeechParams::default();
    let found = segments::speech_segments(&probs, rate, samples.len(), &params);
    segments::segments_to_seconds(&found, rate, samples.len(), 1)
        .iter()
        .map(|s| (s.start, s.end))
        .collect()
}

#[test]
fn vad_finds_the_packages_speech_segments() {
    // silero-vad 6.2.3's get_speech_timestamps(return_seconds=True) on these
    // files with ONNX Runtime and with TorchScript (both give these).
    assert_eq!(
        segments_of::<Encoder16k>(
            "silero_vad/silero_vad_16k.safetensors",
            "silero_vad/speech_16k.wav"
        ),
        [(0.8, 5.6), (7.4, 9.4), (9.6, 12.3)]
    );
    assert_eq!(
        segments_of::<Encoder8k>(
            "silero_vad/silero_vad_8k.safetensors",
            "silero_vad/speech_8k.wav"
        ),
        [(0.8, 5.7), (7.4, 12.3)]
    );
}

use constnorm::models::ppocr_cls::{self, Image, TextDirection};

/// One shipped image's case in models/ppocr_cls/reference.json.
#[derive(Deserialize)]
struct OcrCase {
    image: String,
    rotated_180: bool,
    width: usize,
    probs_onnxruntime: Vec<f64>,
}

#[derive(Deserialize)]
struct OcrReference {
    cases: Vec<OcrCase>,
}

fn ocr_reference() -> OcrReference {
    serde_json::from_slice(&model_file("ppocr_cls/reference.json")).unwrap()
}

/// A shipped PNG as the package sees it (OpenCV reads B, G, R), through
/// `preprocess`. The images are 48 high and at most 192 wide: no resize.
fn ocr_image(name: &str) -> Box<Image> {
    let bytes = model_file(&format!("ppocr_cls/images/{name}"));
    let mut decoder = png::Decoder::new(std::io::Cursor::new(bytes));
    decoder.set_transformations(png::Transformations::EXPAND);
    let mut reader = decoder.read_info().unwrap();
    let mut buffer = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buffer).unwrap();
    assert_eq!(info.height as usize, ppocr_cls::HEIGHT);
    assert_eq!(info.bit_depth, png::BitDepth::Eight);
    let (width, pixels) = (info.width as usize, &buffer[..info.buffer_size()]);
    let channels = info.color_type.samples();
    let plane = |c: usize| -> Vec<u8> {
        pixels
            .chunks_exact(channels)
            .map(|p| if channels >= 3 { p[c] } else { p[0] })
            .collect()
    };
    let (r, g, b) = (plane(0), plane(1), plane(2));
    let mut image = Box::new([[[0.0; ppocr_cls::WIDTH]; ppocr_cls::HEIGHT]; 3]);
    ppocr_cls::preprocess([&b, &g, &r], width, &mut image);
    image
}

/// `B` blank images on the heap (110 KiB each).
fn heap_images<const B: usize>() -> Box<[Image; B]> {
    let images = vec![[[[0.0_f32; ppocr_cls::WIDTH]; ppocr_cls::HEIGHT]; 3]; B];
    images.into_boxed_slice().try_into().unwrap()
}

fn classifier() -> Box<TextDirection> {
    TextDirection::from_safetensors(&model_file(
        "ppocr_cls/ch_ppocr_mobile_v2.0_cls.safetensors",
    ))
    .expect("the shipped weights load")
}

#[test]
fn text_direction_matches_onnx_runtime_on_every_image() {
    let net = classifier();
    let reference = ocr_reference();
    assert_eq!(reference.cases.len(), 12);
    let mut workspace = <TextDirection as Network>::Workspace::<1>::new_boxed();
    let mut worst = 0.0_f64;
    let mut x = heap_images::<1>();
    for case in &reference.cases {
        x[0] = *ocr_image(&case.image);
        let [probs] = *net.forward_eval(&x, &mut workspace).unwrap();
        for (ours, theirs) in probs.iter().zip(&case.probs_onnxruntime) {
            let diff = (f64::from(*ours) - theirs).abs();
            assert!(
                diff <= 1e-5,
                "{}: {probs:?} against {:?}",
                case.image,
                case.probs_onnxruntime
            );
            worst = worst.max(diff);
        }
        let turned = probs[1] > probs[0];
        assert_eq!(turned, case.rotated_180, "{}", case.image);
        assert!(case.width <= ppocr_cls::WIDTH);
    }
    eprintln!("text direction: 12 images, worst difference from ONNX Runtime {worst:.2e}");
}

#[test]
fn text_direction_batch_gives_each_image_its_own_numbers() {
    // The package's batch of 6, twice, against one image at a time.
    let net = classifier();
    let reference = ocr_reference();
    let images: Vec<Box<Image>> = reference
        .cases
        .iter()
        .map(|c| ocr_image(&c.image))
        .collect();
    let mut one = <TextDirection as Network>::Workspace::<1>::new_boxed();
    let mut six = <TextDirection as Network>::Workspace::<6>::new_boxed();
    let mut x = heap_images::<6>();
    let mut x1 = heap_images::<1>();
    for batch in images.chunks(6) {
        for (x, image) in x.iter_mut().zip(batch) {
            *x = **image;
        }
        let together = *net.forward_eval(&x, &mut six).unwrap();
        for (image, together) in batch.iter().zip(together) {
            x1[0] = **image;
            let alone = net.forward_eval(&x1, &mut one).unwrap()[0];
            assert_eq!(alone, together);
        }
    }
}

#[test]
fn text_direction_key_map_reads_every_tensor_of_the_file() {
    // Every key of the network has its Paddle name (but the counters), and
    // every tensor of the file fills a key: nothing is left over or missing.
    use constnorm::StateDict;
    let net = TextDirection::new_boxed();
    let mut ours = Vec::new();
    net.visit_arrays(&mut |key, _, _| ours.push(key.to_string()));
    let mut mapped: Vec<String> = ours
        .iter()
        .filter_map(|k| ppocr_cls::paddle_name(k))
        .collect();
    assert_eq!(mapped.len(), ours.len(), "every array has a Paddle name");
    mapped.sort();
    let bytes = model_file("ppocr_cls/ch_ppocr_mobile_v2.0_cls.safetensors");
    let file = constnorm::safetensors::StateDictFile::parse(&bytes).unwrap();
    assert_eq!(mapped, file.keys());
    assert_eq!(mapped.len(), 213);
    assert_eq!(
        ppocr_cls::paddle_name("conv2.se.fc1.bias").as_deref(),
        Some("conv2_se_1_offset")
    );
    assert_eq!(
        ppocr_cls::paddle_name("conv12.depthwise_bn.running_var").as_deref(),
        Some("conv12_depthwise_bn_variance")
    );
    assert_eq!(ppocr_cls::paddle_name("conv1_bn.num_batches_tracked"), None);
}

#[test]
fn text_direction_refuses_other_weights() {
    let vad = model_file("silero_vad/silero_vad_16k.safetensors");
    assert!(matches!(
        TextDirection::from_safetensors(&vad),
        Err(LoadError::UnexpectedKey(_))
    ));
    let bytes = model_file("ppocr_cls/ch_ppocr_mobile_v2.0_cls.safetensors");
    for len in [0, 9, bytes.len() / 3, bytes.len() - 4] {
        assert!(
            TextDirection::from_safetensors(&bytes[..len]).is_err(),
            "{len} bytes"
        );
    }
}
