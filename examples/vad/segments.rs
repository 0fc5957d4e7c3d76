//! Speech segments from per-chunk speech probabilities.
//!
//! A faithful port of the state machine of silero-vad 6.2.3's
//! `get_speech_timestamps` (the part after the model calls, which the package
//! itself splits out as `utils_vad.get_speech_timestamps_from_probs`): the same
//! hysteresis (`threshold` / `neg_threshold`), the same minimum speech and
//! silence durations, the same splitting of over-long speech at
//! `max_speech_duration_s` (both the "longest silence" strategy and the legacy
//! "last silence" one), the same padding and the same rounding to seconds.
//! Python quirks are kept on purpose (for example a sample offset of 0 doubles
//! as "no pending silence", and the legacy max-speech split can produce
//! overlapping segments), so that results equal the package's bit for bit.
//!
//! Arithmetic follows Python's types: sample offsets are integers, while the
//! duration limits (`sample_rate * ms / 1000`) are floats and are compared as
//! floats; probabilities (`f32`, as the model returns them) are widened to
//! `f64` before comparison, as `tensor.item()` does.

/// Parameters of the segmentation, named and defaulted as the keyword
/// arguments of `get_speech_timestamps` in silero-vad 6.2.3.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SpeechParams {
    /// Probabilities `>= threshold` are speech (package default 0.5).
    pub threshold: f64,
    /// While in speech, probabilities `< neg_threshold` are silence. `None`
    /// means the package's default `max(threshold - 0.15, 0.01)`.
    pub neg_threshold: Option<f64>,
    /// Segments not longer than this are dropped (default 250 ms).
    pub min_speech_duration_ms: u32,
    /// Speech longer than this is split (default infinity: never).
    pub max_speech_duration_s: f64,
    /// Silence must last at least this long to end a segment (default 100 ms).
    pub min_silence_duration_ms: u32,
    /// Padding added on each side of a segment (default 30 ms).
    pub speech_pad_ms: u32,
    /// Only silences longer than this are split candidates when
    /// `max_speech_duration_s` is reached (package argument
    /// `min_silence_at_max_speech`, default 98 ms).
    pub min_silence_at_max_speech_ms: u32,
    /// At `max_speech_duration_s`, split at the longest silence seen in the
    /// segment (`true`, default) rather than at the last one (legacy).
    pub use_max_poss_sil_at_max_speech: bool,
}

impl Default for SpeechParams {
    /// The defaults of `get_speech_timestamps` in silero-vad 6.2.3.
    fn default() -> Self {
        Self {
            threshold: 0.5,
            neg_threshold: None,
            min_speech_duration_ms: 250,
            max_speech_duration_s: f64::INFINITY,
            min_silence_duration_ms: 100,
            speech_pad_ms: 30,
            min_silence_at_max_speech_ms: 98,
            use_max_poss_sil_at_max_speech: true,
        }
    }
}

impl SpeechParams {
    /// The exit threshold actually used: `neg_threshold`, or the package's
    /// `max(threshold - 0.15, 0.01)` when it is `None`.
    #[must_use]
    pub fn effective_neg_threshold(&self) -> f64 {
        self.neg_threshold
            .unwrap_or_else(|| (self.threshold - 0.15).max(0.01))
    }
}

/// A speech segment in samples, `start..end` (end exclusive), as the package's
/// `{'start': ..., 'end': ...}` dicts with `return_seconds=False`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment {
    /// First sample of speech (after padding).
    pub start: usize,
    /// One past the last sample of speech (after padding).
    pub end: usize,
}

/// A speech segment in seconds, as the package returns it with
/// `return_seconds=True`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SegmentSeconds {
    /// Start in seconds, rounded.
    pub start: f64,
    /// End in seconds, rounded, at most the audio's length in seconds.
    pub end: f64,
}

/// Samples per probability: 512 at 16 kHz, else 256, exactly as the package
/// decides it (`512 if sampling_rate == 16000 else 256`). The model only
/// supports 8 kHz and 16 kHz; multiples of 16 kHz must be decimated to 16 kHz
/// by the caller (the package does `audio[::step]`).
#[must_use]
pub fn window_size_samples(sample_rate: u32) -> usize {
    if sample_rate == 16_000 { 512 } else { 256 }
}

/// Speech segments, in samples, from per-chunk probabilities.
///
/// `probs[i]` is the model's output for samples `i * window ..`, with
/// `window = window_size_samples(sample_rate)`; `total_samples` is the length
/// of the audio (the last chunk having been zero-padded). Equals silero-vad
/// 6.2.3's `get_speech_timestamps(..., return_seconds=False)` for the same
/// probabilities and parameters.
#[must_use]
pub fn speech_segments(
    probs: &[f32],
    sample_rate: u32,
    total_samples: usize,
    params: &SpeechParams,
) -> Vec<Segment> {
    let limits = Limits::new(sample_rate, params);
    let total = to_i64(total_samples);
    let mut machine = Machine::default();
    for (i, &p) in probs.iter().enumerate() {
        let cur_sample = limits.window.saturating_mul(to_i64(i));
        machine.step(f64::from(p), cur_sample, &limits);
    }
    let mut raw = machine.finish(total, &limits);
    pad_segments(&mut raw, total, limits.speech_pad);
    raw.into_iter()
        .map(|(start, end)| Segment {
            start: to_usize(start),
            end: to_usize(end),
        })
        .collect()
}

/// Converts sample segments to seconds as the package does with
/// `return_seconds=True`: `start = max(round(start / sr, time_resolution), 0)`,
/// `end = min(round(end / sr, time_resolution), total_samples / sr)`, with
/// Python's `round` (see [`python_round`]). The package default
/// `time_resolution` is 1 (tenths of a second).
#[must_use]
pub fn segments_to_seconds(
    segments: &[Segment],
    sample_rate: u32,
    total_samples: usize,
    time_resolution: usize,
) -> Vec<SegmentSeconds> {
    let sr = f64::from(sample_rate);
    let length_seconds = samples_f64(to_i64(total_samples)) / sr;
    segments
        .iter()
        .map(|s| SegmentSeconds {
            start: python_round(samples_f64(to_i64(s.start)) / sr, time_resolution).max(0.0),
            end: python_round(samples_f64(to_i64(s.end)) / sr, time_resolution).min(length_seconds),
        })
        .collect()
}

/// Python's `round(x, ndigits)` for floats: the decimal value with `ndigits`
/// fractional digits nearest to the exact binary value of `x`, ties to even
/// (so `round(0.25, 1) == 0.2` but `round(0.45, 1) == 0.5`, because 0.45 is
/// stored slightly above). Rust's fixed-precision formatting rounds the exact
/// value the same way, and parsing back is correctly rounded like Python's.
#[must_use]
pub fn python_round(x: f64, ndigits: usize) -> f64 {
    if !x.is_finite() {
        return x;
    }
    format!("{x:.ndigits$}").parse().unwrap_or(x)
}

/// The duration limits of the package, in samples, as Python floats.
struct Limits {
    window: i64,
    threshold: f64,
    neg_threshold: f64,
    min_speech: f64,
    speech_pad: f64,
    max_speech: f64,
    min_silence: f64,
    min_silence_at_max_speech: f64,
    use_max_poss_sil: bool,
}

impl Limits {
    fn new(sample_rate: u32, p: &SpeechParams) -> Self {
        let sr = f64::from(sample_rate);
        let window = window_size_samples(sample_rate);
        let ms = |v: u32| sr * f64::from(v) / 1000.0;
        let speech_pad = ms(p.speech_pad_ms);
        Self {
            window: to_i64(window),
            threshold: p.threshold,
            neg_threshold: p.effective_neg_threshold(),
            min_speech: ms(p.min_speech_duration_ms),
            speech_pad,
            max_speech: sr * p.max_speech_duration_s
                - samples_f64(to_i64(window))
                - 2.0 * speech_pad,
            min_silence: ms(p.min_silence_duration_ms),
            min_silence_at_max_speech: ms(p.min_silence_at_max_speech_ms),
            use_max_poss_sil: p.use_max_poss_sil_at_max_speech,
        }
    }
}

/// The loop variables of `get_speech_timestamps_from_probs`. A value of 0 in
/// `temp_end` / `prev_end` means "unset", as Python's truthiness does.
#[derive(Default)]
struct Machine {
    triggered: bool,
    /// `current_speech['start']`; `None` when `current_speech` is `{}`.
    current_start: Option<i64>,
    temp_end: i64,
    prev_end: i64,
    next_start: i64,
    /// `(silence start, silence length)` candidates for a max-speech split.
    possible_ends: Vec<(i64, i64)>,
    speeches: Vec<(i64, i64)>,
}

impl Machine {
    /// One iteration of the package's `for i, speech_prob in ...` loop.
    fn step(&mut self, prob: f64, cur_sample: i64, lim: &Limits) {
        let is_speech = prob >= lim.threshold;
        if is_speech && self.temp_end != 0 {
            self.speech_returns(cur_sample, lim);
        }
        if is_speech && !self.triggered {
            self.triggered = true;
            self.current_start = Some(cur_sample);
            return;
        }
        if let (true, Some(start)) = (self.triggered, self.current_start)
            && samples_f64(cur_sample - start) > lim.max_speech
            && !self.max_speech_reached(start, cur_sample, lim)
        {
            return;
        }
        if prob < lim.neg_threshold && self.triggered {
            self.silence(cur_sample, lim);
        }
    }

    /// Speech after a pending silence: remember that silence as a split
    /// candidate if long enough, and forget it.
    fn speech_returns(&mut self, cur_sample: i64, lim: &Limits) {
        let sil_dur = cur_sample - self.temp_end;
        if samples_f64(sil_dur) > lim.min_silence_at_max_speech {
            self.possible_ends.push((self.temp_end, sil_dur));
        }
        self.temp_end = 0;
        if self.next_start < self.prev_end {
            self.next_start = cur_sample;
        }
    }

    /// The current segment reached `max_speech_duration_s`. Returns whether
    /// the loop body goes on to the silence check (Python has no `continue`).
    fn max_speech_reached(&mut self, start: i64, cur_sample: i64, lim: &Limits) -> bool {
        if lim.use_max_poss_sil
            && let Some((end, dur)) = longest_silence(&self.possible_ends)
        {
            self.split_at_longest_silence(start, end, dur, cur_sample);
            return true;
        }
        if self.prev_end != 0 {
            self.split_at_last_silence(start);
            true
        } else {
            self.speeches.push((start, cur_sample));
            self.current_start = None;
            self.triggered = false;
            self.reset_split_state();
            false
        }
    }

    /// Split at the longest silence of the segment; the next segment starts
    /// where that silence ended.
    fn split_at_longest_silence(&mut self, start: i64, end: i64, dur: i64, cur_sample: i64) {
        self.speeches.push((start, end));
        self.current_start = None;
        let next_start = end + dur;
        // Python: `if next_start < prev_end + cur_sample`, prev_end being `end`.
        if next_start < end + cur_sample {
            self.current_start = Some(next_start);
        } else {
            self.triggered = false;
        }
        self.reset_split_state();
    }

    /// Legacy split (`use_max_poss_sil_at_max_speech=False`, or no candidate):
    /// end the segment at the last long-enough silence (`prev_end`).
    fn split_at_last_silence(&mut self, start: i64) {
        self.speeches.push((start, self.prev_end));
        self.current_start = None;
        if self.next_start < self.prev_end {
            self.triggered = false;
        } else {
            self.current_start = Some(self.next_start);
        }
        self.reset_split_state();
    }

    /// Silence while in speech: end the segment once the silence lasted
    /// `min_silence_duration_ms`, keeping it only if longer than the minimum.
    fn silence(&mut self, cur_sample: i64, lim: &Limits) {
        if self.temp_end == 0 {
            self.temp_end = cur_sample;
        }
        let sil_dur_now = samples_f64(cur_sample - self.temp_end);
        if !lim.use_max_poss_sil && sil_dur_now > lim.min_silence_at_max_speech {
            self.prev_end = self.temp_end;
        }
        if sil_dur_now < lim.min_silence {
            return;
        }
        if let Some(start) = self.current_start
            && samples_f64(self.temp_end - start) > lim.min_speech
        {
            self.speeches.push((start, self.temp_end));
        }
        self.current_start = None;
        self.triggered = false;
        self.reset_split_state();
    }

    /// `prev_end = next_start = temp_end = 0; possible_ends = []`.
    fn reset_split_state(&mut self) {
        self.prev_end = 0;
        self.next_start = 0;
        self.temp_end = 0;
        self.possible_ends.clear();
    }

    /// After the loop: an open segment runs to the end of the audio if it is
    /// longer than the minimum.
    fn finish(mut self, total: i64, lim: &Limits) -> Vec<(i64, i64)> {
        if let Some(start) = self.current_start
            && samples_f64(total - start) > lim.min_speech
        {
            self.speeches.push((start, total));
        }
        self.speeches
    }
}

/// Python's `max(possible_ends, key=lambda x: x[1])`: the first of the
/// longest silences.
fn longest_silence(candidates: &[(i64, i64)]) -> Option<(i64, i64)> {
    candidates.iter().copied().fold(None, |best, c| match best {
        Some(b) if b.1 >= c.1 => Some(b),
        _ => Some(c),
    })
}

/// The package's padding pass: the first start and every end get
/// `speech_pad` samples, clamped to the audio; when the gap to the next
/// segment is shorter than twice the pad, the gap is shared (floor halves).
fn pad_segments(speeches: &mut [(i64, i64)], total: i64, pad: f64) {
    if let Some(first) = speeches.first_mut() {
        first.0 = trunc_non_negative(samples_f64(first.0) - pad);
    }
    for i in 0..speeches.len() {
        match speeches.get_mut(i..) {
            Some([cur, next, ..]) => pad_gap(cur, next, total, pad),
            Some([cur]) => cur.1 = pad_end(cur.1, total, pad),
            _ => {}
        }
    }
}

/// Pads the gap between two consecutive segments.
fn pad_gap(cur: &mut (i64, i64), next: &mut (i64, i64), total: i64, pad: f64) {
    let silence = next.0 - cur.1;
    if samples_f64(silence) < 2.0 * pad {
        let half = silence.div_euclid(2); // Python's `//`
        cur.1 += half;
        next.0 = (next.0 - half).max(0);
    } else {
        cur.1 = pad_end(cur.1, total, pad);
        next.0 = trunc_non_negative(samples_f64(next.0) - pad);
    }
}

/// `int(min(audio_length_samples, end + speech_pad_samples))`.
fn pad_end(end: i64, total: i64, pad: f64) -> i64 {
    trunc_non_negative(samples_f64(total).min(samples_f64(end) + pad))
}

/// `int(max(0, x))` for a float `x`.
#[allow(clippy::cast_possible_truncation)] // truncation is what int() does
fn trunc_non_negative(x: f64) -> i64 {
    // `as` truncates toward zero and saturates, like Python's int() here.
    x.max(0.0) as i64
}

/// Sample counts as Python floats (exact below 2^53).
#[allow(clippy::cast_precision_loss)] // as Python's int-to-float, exact for real lengths
fn samples_f64(n: i64) -> f64 {
    n as f64
}

fn to_i64(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn to_usize(n: i64) -> usize {
    usize::try_from(n).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const W16: usize = 512;

    fn segs(v: &[(usize, usize)]) -> Vec<Segment> {
        v.iter()
            .map(|&(start, end)| Segment { start, end })
            .collect()
    }

    /// `n` chunks of probability `p`.
    fn run(parts: &[(usize, f32)]) -> Vec<f32> {
        parts
            .iter()
            .flat_map(|&(n, p)| std::iter::repeat_n(p, n))
            .collect()
    }

    #[test]
    fn defaults_match_package() {
        let p = SpeechParams::default();
        assert_eq!(p.threshold, 0.5);
        assert_eq!(p.neg_threshold, None);
        assert_eq!(p.min_speech_duration_ms, 250);
        assert_eq!(p.max_speech_duration_s, f64::INFINITY);
        assert_eq!(p.min_silence_duration_ms, 100);
        assert_eq!(p.speech_pad_ms, 30);
        assert_eq!(p.min_silence_at_max_speech_ms, 98);
        assert!(p.use_max_poss_sil_at_max_speech);
        // 0.5 - 0.15 in binary floating point, not the literal 0.35.
        assert_eq!(p.effective_neg_threshold(), 0.5 - 0.15);
        let low = SpeechParams {
            threshold: 0.1,
            ..p
        };
        assert_eq!(low.effective_neg_threshold(), 0.01);
    }

    #[test]
    fn window_sizes() {
        assert_eq!(window_size_samples(16_000), 512);
        assert_eq!(window_size_samples(8_000), 256);
    }

    #[test]
    fn empty_and_silent_input() {
        let p = SpeechParams::default();
        assert!(speech_segments(&[], 16_000, 0, &p).is_empty());
        assert!(speech_segments(&[0.1; 50], 16_000, 50 * W16, &p).is_empty());
    }

    // Expected values below come from silero-vad 6.2.3's
    // get_speech_timestamps_from_probs run on the same probabilities.

    #[test]
    fn single_segment_is_padded() {
        let probs = run(&[(10, 0.1), (20, 0.9), (10, 0.1)]);
        let got = speech_segments(&probs, 16_000, 40 * W16, &SpeechParams::default());
        assert_eq!(got, segs(&[(4640, 15840)]));
    }

    #[test]
    fn speech_until_the_end_ends_at_total_samples() {
        let probs = run(&[(10, 0.1), (20, 0.9)]);
        let got = speech_segments(&probs, 16_000, 30 * W16 - 100, &SpeechParams::default());
        assert_eq!(got, segs(&[(4640, 15260)]));
    }

    #[test]
    fn short_speech_is_dropped() {
        // 7 chunks = 3584 samples < 4000 (250 ms).
        let probs = run(&[(10, 0.1), (7, 0.9), (10, 0.1)]);
        assert!(speech_segments(&probs, 16_000, 27 * W16, &SpeechParams::default()).is_empty());
    }

    #[test]
    fn hysteresis_keeps_speech_between_thresholds() {
        let probs = run(&[(5, 0.1), (10, 0.9), (10, 0.4), (10, 0.9), (5, 0.1)]);
        let got = speech_segments(&probs, 16_000, 40 * W16, &SpeechParams::default());
        assert_eq!(got, segs(&[(2080, 18400)]));
    }

    #[test]
    fn short_silence_merges_long_silence_splits() {
        // 3 silent chunks: silence measured 2 * 512 < 1600 samples: merged.
        let probs = run(&[(5, 0.1), (10, 0.9), (3, 0.1), (10, 0.9), (5, 0.1)]);
        let got = speech_segments(&probs, 16_000, 33 * W16, &SpeechParams::default());
        assert_eq!(got, segs(&[(2080, 14816)]));
        // 8 chunks: two segments, gap wider than 2 pads: each padded by 480.
        let probs = run(&[(5, 0.1), (10, 0.9), (8, 0.1), (10, 0.9), (5, 0.1)]);
        let got = speech_segments(&probs, 16_000, 38 * W16, &SpeechParams::default());
        assert_eq!(got, segs(&[(2080, 8160), (11296, 17376)]));
    }

    #[test]
    fn narrow_gap_is_shared() {
        let params = SpeechParams {
            speech_pad_ms: 100,
            ..SpeechParams::default()
        };
        // 5 silent chunks end the first segment (4 * 512 >= 1600), but the
        // gap (2560) is narrower than 2 * 1600: each side gets half of it.
        let probs = run(&[(5, 0.1), (10, 0.9), (5, 0.1), (10, 0.9), (5, 0.1)]);
        let got = speech_segments(&probs, 16_000, 35 * W16, &params);
        assert_eq!(got, segs(&[(960, 8960), (8960, 16960)]));
    }

    #[test]
    fn max_speech_without_silence_cuts_hard() {
        let params = SpeechParams {
            max_speech_duration_s: 1.0,
            ..SpeechParams::default()
        };
        let probs = run(&[(2, 0.1), (70, 0.9), (2, 0.1)]);
        let got = speech_segments(&probs, 16_000, 74 * W16, &params);
        assert_eq!(got, segs(&[(544, 16128), (16128, 31488), (31488, 37888)]));
    }

    /// Speech with a 10-chunk then a 6-chunk pause, both shorter than a
    /// 300 ms minimum silence, then speech past a 2 s maximum.
    fn two_pauses() -> Vec<f32> {
        run(&[
            (2, 0.1),
            (15, 0.9),
            (10, 0.1),
            (12, 0.9),
            (6, 0.1),
            (30, 0.9),
            (2, 0.1),
        ])
    }

    #[test]
    fn max_speech_splits_at_longest_silence() {
        let params = SpeechParams {
            max_speech_duration_s: 2.0,
            min_silence_duration_ms: 300,
            ..SpeechParams::default()
        };
        let got = speech_segments(&two_pauses(), 16_000, 77 * W16, &params);
        assert_eq!(got, segs(&[(544, 9184), (13344, 39424)]));
    }

    #[test]
    fn legacy_max_speech_split() {
        let params = SpeechParams {
            max_speech_duration_s: 2.0,
            min_silence_duration_ms: 300,
            use_max_poss_sil_at_max_speech: false,
            ..SpeechParams::default()
        };
        let got = speech_segments(&two_pauses(), 16_000, 77 * W16, &params);
        assert_eq!(got, segs(&[(544, 20448), (22560, 39424)]));
    }

    #[test]
    fn max_speech_reached_when_speech_returns() {
        // Speech returns at chunk 31, the very chunk where the 1 s maximum is
        // exceeded: the next segment starts right there (the package's
        // `next_start < prev_end + cur_sample` holds).
        let params = SpeechParams {
            max_speech_duration_s: 1.0,
            min_silence_duration_ms: 300,
            ..SpeechParams::default()
        };
        let probs = run(&[(2, 0.1), (25, 0.9), (4, 0.1), (20, 0.9), (2, 0.1)]);
        let got = speech_segments(&probs, 16_000, 53 * W16, &params);
        assert_eq!(got, segs(&[(544, 14304), (15392, 27136)]));
    }

    #[test]
    fn thresholds_are_inclusive_and_strict() {
        // `prob >= threshold` is speech...
        let probs = run(&[(5, 0.1), (10, 0.5), (5, 0.1)]);
        let got = speech_segments(&probs, 16_000, 20 * W16, &SpeechParams::default());
        assert_eq!(got, segs(&[(2080, 8160)]));
        // ...and only `prob < neg_threshold` is silence.
        let params = SpeechParams {
            neg_threshold: Some(0.25),
            ..SpeechParams::default()
        };
        let probs = run(&[(5, 0.1), (10, 0.9), (10, 0.25), (10, 0.9), (5, 0.1)]);
        let got = speech_segments(&probs, 16_000, 40 * W16, &params);
        assert_eq!(got, segs(&[(2080, 18400)]));
    }

    #[test]
    fn eight_khz_uses_256_sample_windows() {
        let probs = run(&[(10, 0.1), (20, 0.9), (10, 0.1)]);
        let got = speech_segments(&probs, 8_000, 40 * 256, &SpeechParams::default());
        assert_eq!(got, segs(&[(2320, 7920)]));
    }

    #[test]
    fn explicit_neg_threshold() {
        let params = SpeechParams {
            neg_threshold: Some(0.45),
            ..SpeechParams::default()
        };
        let probs = run(&[(5, 0.1), (10, 0.9), (10, 0.4), (10, 0.9), (5, 0.1)]);
        let got = speech_segments(&probs, 16_000, 40 * W16, &params);
        assert_eq!(got, segs(&[(2080, 8160), (12320, 18400)]));
    }

    #[test]
    fn python_round_matches_python() {
        // Values from CPython's round().
        let cases = [
            (0.25, 1, 0.2),
            (0.35, 1, 0.3),
            (0.45, 1, 0.5),
            (0.75, 1, 0.8),
            (12.25, 1, 12.2),
            (0.125, 2, 0.12),
            (0.375, 2, 0.38),
            (2.5, 0, 2.0),
            (3.5, 0, 4.0),
        ];
        for (x, d, want) in cases {
            assert_eq!(python_round(x, d), want, "round({x}, {d})");
        }
        assert_eq!(python_round(f64::INFINITY, 1), f64::INFINITY);
    }

    #[test]
    fn seconds_are_rounded_and_clamped() {
        let s = segs(&[(4640, 15840), (200_000, 213_814)]);
        let got = segments_to_seconds(&s, 16_000, 213_814, 1);
        // 213814 / 16000 = 13.363375: round gives 13.4, clamped to the length.
        assert_eq!(
            got,
            vec![
                SegmentSeconds {
                    start: 0.3,
                    end: 1.0
                },
                SegmentSeconds {
                    start: 12.5,
                    end: 13.363375
                },
            ]
        );
    }
}
