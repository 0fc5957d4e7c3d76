//! A small, strict reader for 16-bit PCM mono WAV files.
//!
//! Reads RIFF/WAVE files whose format is PCM (`WAVE_FORMAT_PCM`, or
//! `WAVE_FORMAT_EXTENSIBLE` with the PCM sub-format), 16 bits per sample and
//! one channel: the input Silero VAD expects. Chunks other than `fmt ` and
//! `data` (`LIST`, `fact`, `cue `, ...) are skipped, honouring the RIFF rule
//! that a chunk of odd size is followed by one pad byte.
//!
//! Samples are converted as `i16 / 32768.0`, which is what the silero-vad
//! package's `read_audio` gets: `torchaudio.load` (normalize=True) divides
//! 16-bit integers by 2^15, and torchcodec/FFmpeg converts s16 to float with
//! `x * (1.0 / (1 << 15))` (the same value, 2^15 being a power of two).
//!
//! The parser never panics: every read is bounds-checked and any
//! inconsistency (a chunk running past the end of the file, a RIFF size larger
//! than the file, ...) is reported as a [`WavError`].

use std::fmt;

/// A decoded mono WAV file.
#[derive(Debug, Clone, PartialEq)]
pub struct Wav {
    /// Samples per second, from the `fmt ` chunk.
    pub sample_rate: u32,
    /// The samples, `i16 / 32768.0`, in [-1, 1).
    pub samples: Vec<f32>,
}

/// Why a byte buffer is not a WAV file this reader accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WavError {
    /// The file does not start with `RIFF` (`RIFX` and `RF64` are not supported).
    NotRiff,
    /// The RIFF form type is not `WAVE`.
    NotWave,
    /// The file ends before a structure it announces: `what` needs `needed`
    /// bytes from offset `offset` but only `available` are there.
    Truncated {
        /// The structure being read.
        what: &'static str,
        /// Its byte offset in the file.
        offset: usize,
        /// Bytes it needs.
        needed: usize,
        /// Bytes left in the file (or in the RIFF chunk) from `offset`.
        available: usize,
    },
    /// No `fmt ` chunk.
    MissingFmt,
    /// No `data` chunk.
    MissingData,
    /// The `fmt ` chunk is shorter than its format requires.
    FmtTooShort {
        /// Its size in bytes.
        size: usize,
        /// The size required (16, or 40 for `WAVE_FORMAT_EXTENSIBLE`).
        required: usize,
    },
    /// The format tag is neither PCM (1) nor `WAVE_FORMAT_EXTENSIBLE` (0xFFFE).
    NotPcm {
        /// The `wFormatTag` found (3 is IEEE float, 6/7 A-law/mu-law, ...).
        format_tag: u16,
    },
    /// `WAVE_FORMAT_EXTENSIBLE` whose sub-format GUID is not PCM.
    NotPcmSubformat {
        /// The first two bytes of the sub-format GUID, as a format tag.
        subformat_tag: u16,
    },
    /// The samples are not 16-bit.
    Not16Bit {
        /// `wBitsPerSample` found.
        bits_per_sample: u16,
    },
    /// More (or fewer) than one channel.
    NotMono {
        /// `nChannels` found.
        channels: u16,
    },
    /// The sample rate is 0.
    ZeroSampleRate,
    /// `nBlockAlign` is not 2 (one 16-bit mono frame).
    BadBlockAlign {
        /// `nBlockAlign` found.
        block_align: u16,
    },
    /// The `data` chunk size is not a whole number of 16-bit samples.
    PartialSample {
        /// The `data` chunk size in bytes.
        data_size: usize,
    },
}

impl fmt::Display for WavError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotRiff => write!(f, "not a WAV file: it does not start with \"RIFF\""),
            Self::NotWave => write!(f, "not a WAV file: the RIFF form type is not \"WAVE\""),
            Self::Truncated {
                what,
                offset,
                needed,
                available,
            } => write!(
                f,
                "truncated WAV file: the {what} at byte {offset} needs {needed} bytes but only {available} remain"
            ),
            Self::MissingFmt => write!(f, "invalid WAV file: no \"fmt \" chunk"),
            Self::MissingData => write!(f, "invalid WAV file: no \"data\" chunk"),
            Self::FmtTooShort { size, required } => write!(
                f,
                "invalid WAV file: the \"fmt \" chunk has {size} bytes, at least {required} are needed"
            ),
            Self::NotPcm { format_tag } => write!(
                f,
                "unsupported WAV encoding: format tag {format_tag:#06x} ({}), only 16-bit PCM is supported",
                format_name(*format_tag)
            ),
            Self::NotPcmSubformat { subformat_tag } => write!(
                f,
                "unsupported WAV encoding: WAVE_FORMAT_EXTENSIBLE with sub-format {subformat_tag:#06x} ({}), only PCM is supported",
                format_name(*subformat_tag)
            ),
            Self::Not16Bit { bits_per_sample } => write!(
                f,
                "unsupported WAV sample size: {bits_per_sample} bits per sample, only 16-bit is supported"
            ),
            Self::NotMono { channels } => write!(
                f,
                "unsupported WAV channel count: {channels} channels ({}), only mono is supported; mix down to one channel first",
                channels_name(*channels)
            ),
            Self::ZeroSampleRate => write!(f, "invalid WAV file: the sample rate is 0"),
            Self::BadBlockAlign { block_align } => write!(
                f,
                "invalid WAV file: block align is {block_align}, 2 expected for 16-bit mono"
            ),
            Self::PartialSample { data_size } => write!(
                f,
                "invalid WAV file: the data chunk has {data_size} bytes, not a whole number of 16-bit samples"
            ),
        }
    }
}

impl std::error::Error for WavError {}

/// A readable name for common format tags, for error messages.
fn format_name(tag: u16) -> &'static str {
    match tag {
        0x0001 => "PCM",
        0x0002 => "Microsoft ADPCM",
        0x0003 => "IEEE float",
        0x0006 => "A-law",
        0x0007 => "mu-law",
        0x0011 => "IMA ADPCM",
        0x0055 => "MPEG layer 3",
        0xFFFE => "extensible",
        _ => "unknown",
    }
}

/// A readable name for a channel count, for error messages.
fn channels_name(channels: u16) -> &'static str {
    match channels {
        0 => "no audio",
        1 => "mono",
        2 => "stereo",
        _ => "multi-channel",
    }
}

const WAVE_FORMAT_PCM: u16 = 0x0001;
const WAVE_FORMAT_EXTENSIBLE: u16 = 0xFFFE;
/// Bytes 2..16 of `KSDATAFORMAT_SUBTYPE_PCM` (00000001-0000-0010-8000-00aa00389b71);
/// bytes 0..2 hold the format tag.
const GUID_TAIL: [u8; 14] = [
    0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xAA, 0x00, 0x38, 0x9B, 0x71,
];

/// Parses a RIFF/WAVE file holding 16-bit PCM mono samples.
///
/// The RIFF size must not exceed the file (bytes after the RIFF chunk are
/// ignored); every chunk must fit in the RIFF chunk; the first `fmt ` and the
/// first `data` chunk are used, in either order. Never panics.
///
/// # Errors
///
/// A [`WavError`] saying what is wrong: not RIFF/WAVE, a missing `fmt ` or
/// `data` chunk, an encoding other than 16-bit PCM mono, or a truncated file.
pub fn parse_wav(bytes: &[u8]) -> Result<Wav, WavError> {
    let body = riff_body(bytes)?;
    let (fmt_chunk, data_chunk) = find_chunks(body)?;
    let format = parse_fmt(fmt_chunk.ok_or(WavError::MissingFmt)?)?;
    let data = data_chunk.ok_or(WavError::MissingData)?;
    Ok(Wav {
        sample_rate: format.sample_rate,
        samples: decode_samples(data)?,
    })
}

/// Checks the 12-byte RIFF header and returns the chunks area, offset 12.
fn riff_body(bytes: &[u8]) -> Result<Chunk<'_>, WavError> {
    let magic = bytes.get(..4).unwrap_or(bytes);
    if !b"RIFF".starts_with(magic) {
        return Err(WavError::NotRiff);
    }
    let header = take(bytes, 0, 12, "RIFF header")?;
    if header.get(8..12) != Some(b"WAVE".as_slice()) {
        return Err(WavError::NotWave);
    }
    let riff_size = to_usize(le_u32(header, 4));
    // The RIFF size counts the form type ("WAVE") and the chunks.
    let chunks_len = riff_size.saturating_sub(4);
    let area = take(bytes, 12, chunks_len, "RIFF chunk")?;
    Ok(Chunk {
        offset: 12,
        bytes: area,
    })
}

/// A run of bytes and its offset in the file (for error messages).
#[derive(Clone, Copy)]
struct Chunk<'a> {
    offset: usize,
    bytes: &'a [u8],
}

/// Walks the chunks; returns the first `fmt ` and the first `data` chunk.
fn find_chunks(body: Chunk<'_>) -> Result<(Option<Chunk<'_>>, Option<Chunk<'_>>), WavError> {
    let (mut fmt_chunk, mut data_chunk) = (None, None);
    let mut pos = 0;
    while pos < body.bytes.len() {
        let (id, chunk, next) = read_chunk(body, pos)?;
        match &id {
            b"fmt " if fmt_chunk.is_none() => fmt_chunk = Some(chunk),
            b"data" if data_chunk.is_none() => data_chunk = Some(chunk),
            _ => {}
        }
        pos = next;
    }
    Ok((fmt_chunk, data_chunk))
}

/// Reads the chunk header at `pos` of `body`: returns its id, its contents
/// and the position of the next chunk (after the pad byte of an odd size;
/// a missing pad byte at the very end is tolerated).
fn read_chunk(body: Chunk<'_>, pos: usize) -> Result<([u8; 4], Chunk<'_>, usize), WavError> {
    let header = take_at(body, pos, 8, "chunk header")?;
    let id = [0, 1, 2, 3].map(|i| header.get(i).copied().unwrap_or(0));
    let size = to_usize(le_u32(header, 4));
    let start = pos.saturating_add(8);
    let what = chunk_name(id);
    let contents = take_at(body, start, size, what)?;
    let padded = size.saturating_add(size % 2);
    let next = start.saturating_add(padded).min(body.bytes.len());
    let chunk = Chunk {
        offset: body.offset.saturating_add(start),
        bytes: contents,
    };
    Ok((id, chunk, next))
}

/// The name used in truncation messages for a chunk id.
fn chunk_name(id: [u8; 4]) -> &'static str {
    match &id {
        b"fmt " => "\"fmt \" chunk",
        b"data" => "\"data\" chunk",
        b"LIST" => "\"LIST\" chunk",
        _ => "chunk",
    }
}

/// The fields of the `fmt ` chunk that matter here.
struct Format {
    sample_rate: u32,
}

/// Validates the `fmt ` chunk: PCM (or extensible PCM), mono, 16-bit.
fn parse_fmt(chunk: Chunk<'_>) -> Result<Format, WavError> {
    let b = chunk.bytes;
    require_fmt_size(b, 16)?;
    let format_tag = le_u16(b, 0);
    let channels = le_u16(b, 2);
    let sample_rate = le_u32(b, 4);
    let block_align = le_u16(b, 12);
    let bits_per_sample = le_u16(b, 14);
    match format_tag {
        WAVE_FORMAT_PCM => {}
        WAVE_FORMAT_EXTENSIBLE => check_extensible(b)?,
        _ => return Err(WavError::NotPcm { format_tag }),
    }
    if channels != 1 {
        return Err(WavError::NotMono { channels });
    }
    if bits_per_sample != 16 {
        return Err(WavError::Not16Bit { bits_per_sample });
    }
    if block_align != 2 {
        return Err(WavError::BadBlockAlign { block_align });
    }
    if sample_rate == 0 {
        return Err(WavError::ZeroSampleRate);
    }
    Ok(Format { sample_rate })
}

/// `WAVE_FORMAT_EXTENSIBLE`: 40-byte chunk whose sub-format GUID is PCM.
fn check_extensible(b: &[u8]) -> Result<(), WavError> {
    require_fmt_size(b, 40)?;
    let subformat_tag = le_u16(b, 24);
    if subformat_tag != WAVE_FORMAT_PCM || b.get(26..40) != Some(GUID_TAIL.as_slice()) {
        return Err(WavError::NotPcmSubformat { subformat_tag });
    }
    Ok(())
}

fn require_fmt_size(b: &[u8], required: usize) -> Result<(), WavError> {
    if b.len() < required {
        return Err(WavError::FmtTooShort {
            size: b.len(),
            required,
        });
    }
    Ok(())
}

/// Little-endian 16-bit samples to `i16 / 32768.0`.
fn decode_samples(data: Chunk<'_>) -> Result<Vec<f32>, WavError> {
    let bytes = data.bytes;
    if !bytes.len().is_multiple_of(2) {
        return Err(WavError::PartialSample {
            data_size: bytes.len(),
        });
    }
    let (pairs, _) = bytes.as_chunks::<2>();
    Ok(pairs
        .iter()
        .map(|&pair| f32::from(i16::from_le_bytes(pair)) / 32768.0)
        .collect())
}

/// `len` bytes of `bytes` from `offset`, or a truncation error.
fn take<'a>(
    bytes: &'a [u8],
    offset: usize,
    len: usize,
    what: &'static str,
) -> Result<&'a [u8], WavError> {
    let available = bytes.len().saturating_sub(offset);
    offset
        .checked_add(len)
        .and_then(|end| bytes.get(offset..end))
        .ok_or(WavError::Truncated {
            what,
            offset,
            needed: len,
            available,
        })
}

/// `len` bytes from `pos` within `body` (a truncation error reports file offsets).
fn take_at<'a>(
    body: Chunk<'a>,
    pos: usize,
    len: usize,
    what: &'static str,
) -> Result<&'a [u8], WavError> {
    take(body.bytes, pos, len, what).map_err(|_| WavError::Truncated {
        what,
        offset: body.offset.saturating_add(pos),
        needed: len,
        available: body.bytes.len().saturating_sub(pos),
    })
}

/// Little-endian u16 at `at` (0 if out of range; callers check sizes first).
fn le_u16(b: &[u8], at: usize) -> u16 {
    let get = |i: usize| {
        at.checked_add(i)
            .and_then(|j| b.get(j))
            .copied()
            .unwrap_or(0)
    };
    u16::from_le_bytes([get(0), get(1)])
}

/// Little-endian u32 at `at` (0 if out of range; callers check sizes first).
fn le_u32(b: &[u8], at: usize) -> u32 {
    let get = |i: usize| {
        at.checked_add(i)
            .and_then(|j| b.get(j))
            .copied()
            .unwrap_or(0)
    };
    u32::from_le_bytes([get(0), get(1), get(2), get(3)])
}

fn to_usize(n: u32) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `fmt ` chunk body for PCM with the given fields.
    fn fmt_pcm(tag: u16, channels: u16, rate: u32, bits: u16) -> Vec<u8> {
        let block_align = channels.wrapping_mul(bits / 8);
        let mut v = Vec::new();
        v.extend(tag.to_le_bytes());
        v.extend(channels.to_le_bytes());
        v.extend(rate.to_le_bytes());
        v.extend((rate * u32::from(block_align)).to_le_bytes());
        v.extend(block_align.to_le_bytes());
        v.extend(bits.to_le_bytes());
        v
    }

    /// A 40-byte `WAVE_FORMAT_EXTENSIBLE` fmt body with the given sub-format tag.
    fn fmt_extensible(subformat: u16) -> Vec<u8> {
        let mut v = fmt_pcm(WAVE_FORMAT_EXTENSIBLE, 1, 16_000, 16);
        v.extend(22u16.to_le_bytes()); // cbSize
        v.extend(16u16.to_le_bytes()); // wValidBitsPerSample
        v.extend(4u32.to_le_bytes()); // dwChannelMask: front centre
        v.extend(subformat.to_le_bytes());
        v.extend(GUID_TAIL);
        v
    }

    fn chunk(id: &[u8; 4], body: &[u8]) -> Vec<u8> {
        let mut v = id.to_vec();
        v.extend(u32::try_from(body.len()).unwrap_or(0).to_le_bytes());
        v.extend(body);
        if body.len() % 2 == 1 {
            v.push(0);
        }
        v
    }

    fn riff(chunks: &[Vec<u8>]) -> Vec<u8> {
        let body: Vec<u8> = chunks.concat();
        let mut v = b"RIFF".to_vec();
        v.extend(u32::try_from(body.len() + 4).unwrap_or(0).to_le_bytes());
        v.extend(b"WAVE");
        v.extend(body);
        v
    }

    fn pcm_data(samples: &[i16]) -> Vec<u8> {
        samples.iter().flat_map(|s| s.to_le_bytes()).collect()
    }

    const SAMPLES: [i16; 5] = [0, 1, -1, i16::MAX, i16::MIN];

    fn valid_file() -> Vec<u8> {
        riff(&[
            chunk(b"fmt ", &fmt_pcm(1, 1, 16_000, 16)),
            chunk(b"LIST", b"INFOISFT\x03\0\0\0ab\0"), // odd size, padded
            chunk(b"data", &pcm_data(&SAMPLES)),
            chunk(b"id3 ", b"xyz"),
        ])
    }

    fn expected_samples() -> Vec<f32> {
        vec![0.0, 1.0 / 32768.0, -1.0 / 32768.0, 32767.0 / 32768.0, -1.0]
    }

    #[test]
    fn parses_valid_file_with_extra_chunks() {
        let wav = parse_wav(&valid_file()).expect("valid file");
        assert_eq!(wav.sample_rate, 16_000);
        assert_eq!(wav.samples, expected_samples());
    }

    #[test]
    fn parses_minimal_file_and_empty_data() {
        let f = riff(&[
            chunk(b"fmt ", &fmt_pcm(1, 1, 8_000, 16)),
            chunk(b"data", &[]),
        ]);
        let wav = parse_wav(&f).expect("valid file");
        assert_eq!(
            wav,
            Wav {
                sample_rate: 8_000,
                samples: vec![]
            }
        );
    }

    #[test]
    fn data_before_fmt_and_trailing_bytes_are_accepted() {
        let mut f = riff(&[
            chunk(b"data", &pcm_data(&[5, -5])),
            chunk(b"fmt ", &fmt_pcm(1, 1, 8_000, 16)),
        ]);
        f.extend(b"trailing garbage after the RIFF chunk");
        let wav = parse_wav(&f).expect("valid file");
        assert_eq!(wav.samples, vec![5.0 / 32768.0, -5.0 / 32768.0]);
    }

    #[test]
    fn odd_sized_chunk_without_final_pad_byte() {
        let mut f = riff(&[
            chunk(b"fmt ", &fmt_pcm(1, 1, 8_000, 16)),
            chunk(b"data", &[]),
            chunk(b"junk", b"x"),
        ]);
        f.pop(); // drop the pad byte of the last chunk...
        let size = u32::try_from(f.len() - 8).unwrap_or(0);
        f.splice(4..8, size.to_le_bytes()); // ...and make the RIFF size agree
        assert!(parse_wav(&f).is_ok());
    }

    #[test]
    fn accepts_extensible_pcm() {
        let f = riff(&[
            chunk(b"fmt ", &fmt_extensible(1)),
            chunk(b"data", &pcm_data(&SAMPLES)),
        ]);
        let wav = parse_wav(&f).expect("extensible PCM");
        assert_eq!(wav.samples, expected_samples());
    }

    #[test]
    fn rejects_extensible_float() {
        let f = riff(&[chunk(b"fmt ", &fmt_extensible(3)), chunk(b"data", &[])]);
        assert_eq!(
            parse_wav(&f),
            Err(WavError::NotPcmSubformat { subformat_tag: 3 })
        );
        let short = fmt_extensible(1).get(..18).unwrap_or_default().to_vec();
        let f = riff(&[chunk(b"fmt ", &short), chunk(b"data", &[])]);
        assert_eq!(
            parse_wav(&f),
            Err(WavError::FmtTooShort {
                size: 18,
                required: 40
            })
        );
    }

    fn err_of(chunks: &[Vec<u8>]) -> WavError {
        parse_wav(&riff(chunks)).expect_err("must fail")
    }

    #[test]
    fn header_errors() {
        assert_eq!(
            parse_wav(b""),
            Err(WavError::Truncated {
                what: "RIFF header",
                offset: 0,
                needed: 12,
                available: 0
            })
        );
        assert_eq!(
            parse_wav(b"RIF"),
            Err(WavError::Truncated {
                what: "RIFF header",
                offset: 0,
                needed: 12,
                available: 3
            })
        );
        assert_eq!(parse_wav(b"RIFX\0\0\0\0WAVE"), Err(WavError::NotRiff));
        assert_eq!(parse_wav(b"OggS"), Err(WavError::NotRiff));
        assert_eq!(parse_wav(b"RIFF\x04\0\0\0AVI "), Err(WavError::NotWave));
    }

    #[test]
    fn missing_chunks() {
        let data = chunk(b"data", &[]);
        let fmt = chunk(b"fmt ", &fmt_pcm(1, 1, 16_000, 16));
        assert_eq!(err_of(&[data]), WavError::MissingFmt);
        assert_eq!(err_of(&[fmt]), WavError::MissingData);
        assert_eq!(err_of(&[]), WavError::MissingFmt);
    }

    #[test]
    fn format_errors() {
        let data = chunk(b"data", &[]);
        let with_fmt = |f: Vec<u8>| err_of(&[chunk(b"fmt ", &f), data.clone()]);
        assert_eq!(
            with_fmt(fmt_pcm(3, 1, 16_000, 32)),
            WavError::NotPcm { format_tag: 3 }
        );
        assert_eq!(
            with_fmt(fmt_pcm(1, 2, 16_000, 16)),
            WavError::NotMono { channels: 2 }
        );
        assert_eq!(
            with_fmt(fmt_pcm(1, 6, 16_000, 16)),
            WavError::NotMono { channels: 6 }
        );
        assert_eq!(
            with_fmt(fmt_pcm(1, 0, 16_000, 16)),
            WavError::NotMono { channels: 0 }
        );
        assert_eq!(
            with_fmt(fmt_pcm(1, 1, 16_000, 8)),
            WavError::Not16Bit { bits_per_sample: 8 }
        );
        assert_eq!(
            with_fmt(fmt_pcm(1, 1, 16_000, 24)),
            WavError::Not16Bit {
                bits_per_sample: 24
            }
        );
        assert_eq!(with_fmt(fmt_pcm(1, 1, 0, 16)), WavError::ZeroSampleRate);
        let mut bad_align = fmt_pcm(1, 1, 16_000, 16);
        bad_align.splice(12..14, 4u16.to_le_bytes());
        assert_eq!(
            with_fmt(bad_align),
            WavError::BadBlockAlign { block_align: 4 }
        );
        assert_eq!(
            with_fmt(vec![1, 0, 1, 0]),
            WavError::FmtTooShort {
                size: 4,
                required: 16
            }
        );
    }

    #[test]
    fn partial_sample_is_rejected() {
        let f = riff(&[
            chunk(b"fmt ", &fmt_pcm(1, 1, 16_000, 16)),
            chunk(b"data", &[1, 2, 3]),
        ]);
        assert_eq!(parse_wav(&f), Err(WavError::PartialSample { data_size: 3 }));
    }

    #[test]
    fn chunk_larger_than_file_is_truncated() {
        let mut f = riff(&[
            chunk(b"fmt ", &fmt_pcm(1, 1, 16_000, 16)),
            chunk(b"data", &pcm_data(&SAMPLES)),
        ]);
        let data_size_at = f.len() - 10 - 4;
        f.splice(data_size_at..data_size_at + 4, 1000u32.to_le_bytes());
        let err = parse_wav(&f).expect_err("must fail");
        assert!(
            matches!(
                err,
                WavError::Truncated {
                    what: "\"data\" chunk",
                    needed: 1000,
                    ..
                }
            ),
            "{err:?}"
        );
    }

    #[test]
    fn every_truncation_fails_without_panicking() {
        let f = valid_file();
        for len in 0..f.len() {
            let prefix = f.get(..len).unwrap_or_default();
            assert!(parse_wav(prefix).is_err(), "prefix of {len} bytes parsed");
        }
        assert!(parse_wav(&f).is_ok());
    }

    #[test]
    fn corrupted_bytes_never_panic() {
        let base = valid_file();
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        for _ in 0..20_000 {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            let mut f = base.clone();
            let bytes = state.to_le_bytes();
            for &[at, value] in bytes.as_chunks::<2>().0 {
                let at = usize::from(at) % f.len();
                if let Some(b) = f.get_mut(at) {
                    *b = value;
                }
            }
            let _ = parse_wav(&f);
            let cut = usize::try_from(state >> 48).unwrap_or(0) % (f.len() + 1);
            let _ = parse_wav(f.get(..cut).unwrap_or_default());
        }
        // Sizes at the extremes.
        let mut f = base;
        f.splice(4..8, u32::MAX.to_le_bytes());
        assert!(matches!(
            parse_wav(&f),
            Err(WavError::Truncated {
                what: "RIFF chunk",
                ..
            })
        ));
    }

    #[test]
    fn error_messages_are_clear() {
        let stereo = WavError::NotMono { channels: 2 }.to_string();
        assert!(
            stereo.contains("2 channels") && stereo.contains("stereo") && stereo.contains("mono"),
            "{stereo}"
        );
        let float = WavError::NotPcm { format_tag: 3 }.to_string();
        assert!(
            float.contains("IEEE float") && float.contains("0x0003"),
            "{float}"
        );
        let trunc = WavError::Truncated {
            what: "\"data\" chunk",
            offset: 44,
            needed: 100,
            available: 10,
        }
        .to_string();
        assert!(
            trunc.contains("truncated") && trunc.contains("byte 44"),
            "{trunc}"
        );
        assert!(
            WavError::Not16Bit {
                bits_per_sample: 24
            }
            .to_string()
            .contains("24 bits")
        );
        assert!(WavError::MissingData.to_string().contains("data"));
        let boxed: Box<dyn std::error::Error> = Box::new(WavError::NotRiff);
        assert!(boxed.to_string().contains("RIFF"));
    }
}
