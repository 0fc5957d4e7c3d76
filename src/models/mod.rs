//! Networks someone else trained, in constnorm, loaded from the weights
//! their packages ship (feature `models`): [`silero_vad`], Silero VAD v6's
//! streaming voice activity detector (MIT), and [`ppocr_cls`], PP-OCR's
//! text-direction classifier (Apache-2.0), a MobileNetV3 with 35 batch
//! norms. Each is written with the same layers and `#[network]` structs a
//! user would write, and loaded by name with a key map from the file's
//! names to the fields (`StateDictFile::load_renamed`).
//!
//! Both match the reference runtime of their package, ONNX Runtime, to
//! within 1e-5 on every shipped input (`tests/real_models.rs`); the
//! examples `vad` and `text_direction` run them on files.

pub mod ppocr_cls;
pub mod silero_vad;
