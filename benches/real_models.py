"""ONNX Runtime on the two shipped real models, one thread: the reference
figures for the Rust bench `cargo bench --bench real_models`, which runs the
same models on the same inputs.

    pip install onnxruntime numpy
    python3 benches/real_models.py --json /tmp/ort.json
    python3 benches/real_models.py --quick            # a smoke run, seconds

Flags: --passes N (VAD passes over each WAV, default 20), --iters N (PP-OCR
calls per batch size, default 1000), --json PATH (every figure, units in the
key names), --quick (2 passes, 50 calls).

Every session has intra_op_num_threads=1, inter_op_num_threads=1,
ORT_SEQUENTIAL and ORT_ENABLE_ALL, on the CPU execution provider, in this
process alone (nothing else runs in it). Each figure times `session.run`
alone with time.perf_counter_ns, after a warm-up; the inputs are built
beforehand (so the figures include ONNX Runtime's Python binding overhead,
a few microseconds a call, but no numpy work of ours).

1. Silero VAD v6 (models/silero_vad/silero_vad.onnx) streaming
   speech_16k.wav as the silero-vad package does: chunks of 512 samples, the
   last one zero-padded; each call's `input` [1, 576] is the last 64 samples
   of the previous call's input (zeros at first) followed by the chunk;
   `state` [2, 1, 128] is carried from the previous call's `stateN` (zeros at
   first); `sr` is the int64 scalar 16000. One full pass warms up, then
   --passes passes are timed call by call: per-chunk median, p99, mean,
   chunks per second (1 / mean) and the real-time factor (mean time / the
   32 ms of audio a chunk holds). The same at 8 kHz (speech_8k.wav, chunk
   256, context 32, input [1, 288]) as a secondary figure. The first pass's
   probabilities are checked against reference.json's "probs_onnxruntime".
2. PP-OCR mobile v2.0 text-direction classifier
   (models/ppocr_cls/ch_ppocr_mobile_v2.0_cls_infer.onnx), input `x`
   [B, 3, 48, 192] from images/line_XX.png: BGR, /255, (v - 0.5) / 0.5, CHW,
   zero padding on the right up to width 192. Batch 1 cycles through the 12
   images; batch 6 alternates the first 6 and the last 6. Median, p99 and
   mean per call and per image; the outputs are checked against
   reference.json's "probs_onnxruntime".
3. The size of ONNX Runtime's native libraries in the installed package
   (capi/onnxruntime_pybind11_state*.so, which the Python package loads and
   which holds the whole runtime, and capi/libonnxruntime*.so*) and the
   onnxruntime version.

Only numpy, onnxruntime and the standard library: the PNGs (8-bit,
non-interlaced, gray / gray+alpha / RGB / RGBA) are decoded with zlib.
"""

import argparse
import json
import os
import platform
import struct
import sys
import time
import wave
import zlib
from pathlib import Path

import numpy as np
import onnxruntime as ort

ROOT = Path(__file__).resolve().parent.parent
VAD_DIR = ROOT / "models" / "silero_vad"
OCR_DIR = ROOT / "models" / "ppocr_cls"
OCR_WIDTH = 192
OCR_HEIGHT = 48


def session(path):
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(str(path), sess_options=so, providers=["CPUExecutionProvider"])


def stats_us(ns):
    """Median, p99 and mean of a list of nanosecond timings, in microseconds."""
    a = np.asarray(ns, dtype=np.float64) / 1e3
    return float(np.median(a)), float(np.percentile(a, 99)), float(a.mean())


# Silero VAD.

def read_wav(path):
    with wave.open(str(path), "rb") as w:
        assert w.getnchannels() == 1 and w.getsampwidth() == 2, path
        rate = w.getframerate()
        pcm = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
    return rate, pcm.astype(np.float32) / 32768.0


def vad_inputs(audio, chunk, context):
    """Every call's `input` [1, context + chunk], as the package streams."""
    n = -(-len(audio) // chunk)
    padded = np.zeros(n * chunk, dtype=np.float32)
    padded[: len(audio)] = audio
    inputs = []
    ctx = np.zeros(context, dtype=np.float32)
    for i in range(n):
        x = np.concatenate([ctx, padded[i * chunk:(i + 1) * chunk]])[None, :]
        inputs.append(np.ascontiguousarray(x))
        ctx = x[0, -context:].copy()
    return inputs


def vad_pass(sess, inputs, sr, times=None):
    state = np.zeros((2, 1, 128), dtype=np.float32)
    probs = np.empty(len(inputs), dtype=np.float32)
    feed = {"input": None, "state": None, "sr": sr}
    clock = time.perf_counter_ns
    for i, x in enumerate(inputs):
        feed["input"] = x
        feed["state"] = state
        t0 = clock()
        out, state = sess.run(None, feed)
        t1 = clock()
        if times is not None:
            times.append(t1 - t0)
        probs[i] = out[0, 0]
    return probs


def bench_vad(sess, rate, passes, reference):
    chunk, context = (512, 64) if rate == 16000 else (256, 32)
    file_rate, audio = read_wav(VAD_DIR / f"speech_{rate // 1000}k.wav")
    assert file_rate == rate, (file_rate, rate)
    ref = reference[str(rate)]
    assert (ref["chunk"], ref["context"]) == (chunk, context)
    inputs = vad_inputs(audio, chunk, context)
    sr = np.array(rate, dtype=np.int64)
    probs = vad_pass(sess, inputs, sr)  # warm-up, and the check
    ref_probs = np.asarray(ref["probs_onnxruntime"], dtype=np.float64)
    assert len(ref_probs) == len(inputs), (len(ref_probs), len(inputs))
    diff = float(np.abs(probs.astype(np.float64) - ref_probs).max())
    times = []
    for _ in range(passes):
        vad_pass(sess, inputs, sr, times)
    med, p99, mean = stats_us(times)
    chunk_ms = 1e3 * chunk / rate
    k = f"vad_{rate // 1000}k"
    return {
        f"{k}_chunks_per_pass": len(inputs),
        f"{k}_passes": passes,
        f"{k}_calls_timed": len(times),
        f"{k}_audio_s": len(audio) / rate,
        f"{k}_chunk_audio_ms": chunk_ms,
        f"{k}_median_us": med,
        f"{k}_p99_us": p99,
        f"{k}_mean_us": mean,
        f"{k}_min_us": float(min(times)) / 1e3,
        f"{k}_chunks_per_s": 1e6 / mean,
        f"{k}_rtf_mean": mean / (chunk_ms * 1e3),
        f"{k}_rtf_median": med / (chunk_ms * 1e3),
        f"{k}_max_abs_diff_vs_reference": diff,
    }


# PP-OCR classifier.

def read_png(path):
    """An 8-bit non-interlaced gray / gray+alpha / RGB / RGBA PNG as uint8
    [H, W, C] (C = 1, 2, 3 or 4)."""
    data = Path(path).read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path}: not a PNG"
    pos, idat, header = 8, [], None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            break
    width, height, depth, color, _, _, interlace = header
    channels = {0: 1, 4: 2, 2: 3, 6: 4}.get(color)
    if depth != 8 or channels is None or interlace != 0:
        raise ValueError(f"{path}: depth {depth}, colour type {color}, interlace {interlace} not supported")
    raw = zlib.decompress(b"".join(idat))
    bpp, stride = channels, width * channels
    out = bytearray(height * stride)
    prev = bytearray(stride)
    for y in range(height):
        start = y * (stride + 1)
        ftype = raw[start]
        line = bytearray(raw[start + 1:start + 1 + stride])
        if ftype == 1:  # Sub
            for i in range(bpp, stride):
                line[i] = (line[i] + line[i - bpp]) & 255
        elif ftype == 2:  # Up
            line = bytearray((a + b) & 255 for a, b in zip(line, prev))
        elif ftype == 3:  # Average
            for i in range(stride):
                left = line[i - bpp] if i >= bpp else 0
                line[i] = (line[i] + ((left + prev[i]) >> 1)) & 255
        elif ftype == 4:  # Paeth
            for i in range(stride):
                a = line[i - bpp] if i >= bpp else 0
                b = prev[i]
                c = prev[i - bpp] if i >= bpp else 0
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                line[i] = (line[i] + pred) & 255
        elif ftype != 0:
            raise ValueError(f"{path}: filter type {ftype}")
        out[y * stride:(y + 1) * stride] = line
        prev = line
    return np.frombuffer(bytes(out), dtype=np.uint8).reshape(height, width, channels)


def ocr_input(path):
    """[3, 48, 192] float32: BGR, /255, (v - 0.5) / 0.5, zero padding right."""
    img = read_png(path)
    if img.shape[2] in (1, 2):  # gray (+ alpha): three equal channels
        img = np.repeat(img[:, :, :1], 3, axis=2)
    else:  # RGB (+ alpha): drop alpha
        img = img[:, :, :3]
    h, w, _ = img.shape
    assert h == OCR_HEIGHT and w <= OCR_WIDTH, (path, img.shape)
    bgr = img[:, :, ::-1].astype(np.float32) / 255.0
    chw = ((bgr - 0.5) / 0.5).transpose(2, 0, 1)
    x = np.zeros((3, OCR_HEIGHT, OCR_WIDTH), dtype=np.float32)
    x[:, :, :w] = chw
    return x


def time_calls(sess, name, batches, iters):
    feed = {name: None}
    clock = time.perf_counter_ns
    for b in batches:  # warm-up
        feed[name] = b
        sess.run(None, feed)
    times = []
    for i in range(iters):
        feed[name] = batches[i % len(batches)]
        t0 = clock()
        sess.run(None, feed)
        times.append(clock() - t0)
    return times


def bench_ocr(sess, iters):
    reference = json.loads((OCR_DIR / "reference.json").read_text())
    cases = reference["cases"]
    name = sess.get_inputs()[0].name
    images = np.stack([ocr_input(OCR_DIR / "images" / c["image"]) for c in cases])
    ref = np.asarray([c["probs_onnxruntime"] for c in cases], dtype=np.float64)
    singles = [np.ascontiguousarray(images[i:i + 1]) for i in range(len(cases))]
    half = len(cases) // 2
    sixes = [np.ascontiguousarray(images[:half]), np.ascontiguousarray(images[half:])]
    out1 = np.concatenate([sess.run(None, {name: x})[0] for x in singles])
    out6 = np.concatenate([sess.run(None, {name: x})[0] for x in sixes])
    res = {
        "ocr_images": len(cases),
        "ocr_iters": iters,
        "ocr_b1_max_abs_diff_vs_reference": float(np.abs(out1 - ref).max()),
        "ocr_b6_max_abs_diff_vs_reference": float(np.abs(out6 - ref).max()),
        "ocr_b6_vs_b1_max_abs_diff": float(np.abs(out6 - out1).max()),
        "ocr_predicted_labels_match_reference": bool(
            (out1.argmax(1) == ref.argmax(1)).all() and (out6.argmax(1) == ref.argmax(1)).all()),
    }
    for batch, inputs in ((1, singles), (6, sixes)):
        med, p99, mean = stats_us(time_calls(sess, name, inputs, iters))
        k = f"ocr_b{batch}"
        res.update({
            f"{k}_median_ms": med / 1e3,
            f"{k}_p99_ms": p99 / 1e3,
            f"{k}_mean_ms": mean / 1e3,
            f"{k}_median_ms_per_image": med / 1e3 / batch,
            f"{k}_mean_ms_per_image": mean / 1e3 / batch,
            f"{k}_images_per_s": 1e6 * batch / mean,
        })
    return res


# The library.

def library_size():
    capi = Path(ort.__file__).resolve().parent / "capi"
    files = sorted(set(capi.glob("onnxruntime_pybind11_state*.so")) | set(capi.glob("libonnxruntime*.so*")))
    loaded = set()
    try:
        with open("/proc/self/maps") as maps:
            loaded = {Path(line.split()[-1]).resolve() for line in maps if line.rstrip().endswith(".so") or ".so." in line}
    except OSError:
        pass
    sizes = {f.name: f.stat().st_size for f in files}
    res = {
        "ort_version": ort.__version__,
        "ort_lib_files_bytes": sizes,
        "ort_lib_total_bytes": sum(sizes.values()),
        "ort_lib_total_mib": sum(sizes.values()) / 2**20,
    }
    pybind = [f for f in files if f.name.startswith("onnxruntime_pybind11_state")]
    if pybind:
        res["ort_pybind_bytes"] = pybind[0].stat().st_size
        res["ort_pybind_mib"] = pybind[0].stat().st_size / 2**20
    if loaded:
        mapped = [f for f in files if f.resolve() in loaded]
        res["ort_lib_loaded_files"] = [f.name for f in mapped]
        res["ort_lib_loaded_bytes"] = sum(f.stat().st_size for f in mapped)
        res["ort_lib_loaded_mib"] = res["ort_lib_loaded_bytes"] / 2**20
    return res


def cpu_model():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--passes", type=int, default=20, help="timed VAD passes over each WAV (default 20)")
    ap.add_argument("--iters", type=int, default=1000, help="timed PP-OCR calls per batch size (default 1000)")
    ap.add_argument("--json", metavar="PATH", help="write every figure to this JSON file")
    ap.add_argument("--quick", action="store_true", help="2 passes, 50 calls: a smoke run")
    args = ap.parse_args()
    passes, iters = (2, 50) if args.quick else (args.passes, args.iters)

    res = {
        "python": platform.python_version(),
        "numpy_version": np.__version__,
        "platform": platform.platform(),
        "cpu": cpu_model(),
        "cpus": os.cpu_count(),
        "threads": 1,
        "quick": args.quick,
        "loadavg_1min_start": os.getloadavg()[0],
    }
    t_start = time.perf_counter()
    vad_ref = json.loads((VAD_DIR / "reference.json").read_text())
    vad = session(VAD_DIR / "silero_vad.onnx")
    res.update(bench_vad(vad, 16000, passes, vad_ref))
    res.update(bench_vad(vad, 8000, passes, vad_ref))
    del vad
    ocr = session(OCR_DIR / "ch_ppocr_mobile_v2.0_cls_infer.onnx")
    res.update(bench_ocr(ocr, iters))
    res.update(library_size())
    res["loadavg_1min_end"] = os.getloadavg()[0]
    res["wall_s"] = time.perf_counter() - t_start

    print(f"ONNX Runtime {res['ort_version']}, 1 thread, {res['cpu']} ({res['cpus']} CPUs), "
          f"Python {res['python']}, numpy {res['numpy_version']}"
          f"{' [QUICK: smoke run]' if args.quick else ''}")
    print(f"load average (1 min): {res['loadavg_1min_start']:.2f} at start, {res['loadavg_1min_end']:.2f} at end")
    print()
    print(f"{'model':<28}{'median':>12}{'p99':>12}{'mean':>12}{'per s':>12}{'RTF':>10}  max |diff| vs ref")
    for rate in (16, 8):
        k = f"vad_{rate}k"
        print(f"{f'Silero VAD {rate} kHz, 1 chunk':<28}"
              f"{res[k + '_median_us']:>9.1f} us{res[k + '_p99_us']:>9.1f} us{res[k + '_mean_us']:>9.1f} us"
              f"{res[k + '_chunks_per_s']:>12.0f}{res[k + '_rtf_mean']:>10.5f}  "
              f"{res[k + '_max_abs_diff_vs_reference']:.2e}")
    for batch in (1, 6):
        k = f"ocr_b{batch}"
        print(f"{f'PP-OCR cls, batch {batch}':<28}"
              f"{res[k + '_median_ms']:>9.3f} ms{res[k + '_p99_ms']:>9.3f} ms{res[k + '_mean_ms']:>9.3f} ms"
              f"{res[k + '_images_per_s']:>12.0f}{'':>10}  "
              f"{res[k + '_max_abs_diff_vs_reference']:.2e}")
    print()
    print(f"VAD: {res['vad_16k_chunks_per_pass']} chunks a pass x {passes} passes timed "
          f"(chunks/s = 1 / mean; RTF = mean / 32 ms of audio)")
    print(f"PP-OCR: {iters} calls per batch size; per image: batch 1 "
          f"{res['ocr_b1_median_ms_per_image']:.3f} ms, batch 6 {res['ocr_b6_median_ms_per_image']:.3f} ms (median); "
          f"labels match reference: {res['ocr_predicted_labels_match_reference']}")
    print("ONNX Runtime native libraries (onnxruntime/capi):")
    for name, size in res["ort_lib_files_bytes"].items():
        mark = " (loaded)" if name in res.get("ort_lib_loaded_files", []) else ""
        print(f"  {name:<56}{size:>12} bytes {size / 2**20:>8.2f} MiB{mark}")
    print(f"  {'total':<56}{res['ort_lib_total_bytes']:>12} bytes {res['ort_lib_total_mib']:>8.2f} MiB")
    if "ort_lib_loaded_bytes" in res:
        print(f"  {'loaded by this process':<56}{res['ort_lib_loaded_bytes']:>12} bytes "
              f"{res['ort_lib_loaded_mib']:>8.2f} MiB")
    if max(res["loadavg_1min_start"], res["loadavg_1min_end"]) > 1.5:
        print("warning: load average above 1.5; other work may have slowed these figures", file=sys.stderr)

    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=2) + "\n")
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
