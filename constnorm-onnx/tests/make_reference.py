"""Reference outputs of ONNX Runtime for the importer's tests.

For each model, N inputs (from the MLPerf Tiny benchmark's saved inputs, or
seeded normal values) go through `onnxruntime` (one thread, all
optimizations) and are saved as `tests/data/{name}.x.npy` and
`{name}.ort.npy`. The Rust tests run the imported networks on the same
inputs and compare. Run from the repository root:

    python3 constnorm-onnx/tests/make_reference.py

Needs numpy, onnxruntime and safetensors (`pip install`), never `cargo test`.
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


if __name__ == "__main__":
    main()
