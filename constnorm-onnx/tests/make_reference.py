"""Reference outputs of ONNX Runtime for the importer's tests.

For each model, N inputs (from the MLPerf Tiny benchmark's saved inputs, or
seeded normal values) go through `onnxruntime` (one thread, all
optimizations) and are saved as `tests/data/{name}.x.npy` and
`{name}.ort.npy`. The Rust tests run the imported networks on the same
inputs and compare. Run from the repository root:

    python3 constnorm-onnx/tests/make_reference.py

Needs numpy, onnxruntime, pillow and safetensors (`pip install`), never `cargo test`.
"""

import os
import sys

import numpy as np
import onnxruntime as ort
from safetensors.numpy import load_file

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "data")
ROOT = os.path.dirname(os.path.dirname(HERE))
MLPERF = os.path.join(ROOT, "benches", "data", "mlperf_tiny")


def run(onnx_path, x):
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(onnx_path, options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return session.run(None, {name: x})[0].astype(np.float32)


def ppocr_inputs(count):
    """The shipped text lines as the package preprocesses them (the
    models README): BGR, / 255, (v - 0.5) / 0.5, CHW, zero padding on the
    right to width 192 (they are 48 high already)."""
    from PIL import Image

    images = os.path.join(ROOT, "models", "ppocr_cls", "images")
    x = np.zeros((count, 3, 48, 192), np.float32)
    for i in range(count):
        rgb = np.asarray(Image.open(os.path.join(images, f"line_{i:02}.png")).convert("RGB"), np.float32)
        assert rgb.shape[0] == 48, rgb.shape
        bgr = rgb[:, :, ::-1] / 255.0
        x[i, :, :, : rgb.shape[1]] = ((bgr - 0.5) / 0.5).transpose(2, 0, 1)
    return x


def main():
    os.makedirs(DATA, exist_ok=True)
    # 6 examples: with the batch of 4 the tests compile, one whole chunk and
    # a partial one.
    for model in ["ad", "kws", "ic", "vww"]:
        x = load_file(os.path.join(MLPERF, f"{model}_io.safetensors"))["x"][:6]
        x = np.ascontiguousarray(x.astype(np.float32))
        y = run(os.path.join(MLPERF, f"{model}.onnx"), x)
        np.save(os.path.join(DATA, f"{model}.x.npy"), x)
        np.save(os.path.join(DATA, f"{model}.ort.npy"), y)
        print(model, x.shape, "->", y.shape, file=sys.stderr)
    # PP-OCR's text-direction classifier on six shipped text lines; ONNX
    # Runtime's probabilities are also checked against the package's
    # reference.json.
    import json

    x = ppocr_inputs(6)
    y = run(os.path.join(ROOT, "models", "ppocr_cls", "ch_ppocr_mobile_v2.0_cls_infer.onnx"), x)
    with open(os.path.join(ROOT, "models", "ppocr_cls", "reference.json")) as f:
        cases = json.load(f)["cases"]
    for i in range(6):
        assert np.abs(y[i] - np.array(cases[i]["probs_onnxruntime"])).max() < 1e-6, i
    np.save(os.path.join(DATA, "ppocr_cls.x.npy"), x)
    np.save(os.path.join(DATA, "ppocr_cls.ort.npy"), y)
    print("ppocr_cls", x.shape, "->", y.shape, file=sys.stderr)


if __name__ == "__main__":
    main()
