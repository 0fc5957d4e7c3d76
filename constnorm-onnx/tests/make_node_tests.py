"""ONNX's backend node tests for the operators the importer maps.

The `onnx` package generates its node tests from `onnx.backend.test.case.
node` (the wheel ships the generators, not the data). For every test whose
nodes all have an operator the importer maps, this writes into
tests/data/node/{test}/:

    model.onnx  the test's model, with every graph input but the first
                bound to its test values as an initializer (a weight, a
                shape, a bias: the importer maps layers whose parameters
                are constants), the first input being the data, and only
                the first graph output kept
    x.npy       the first input of data set 0 (its first axis the batch)
    y.npy       the first output of data set 0 (x and y only when they
                are at most 64 KiB together)

Tests whose first input or output is not float32 are left out. Run from
the repository root (needs onnx and numpy, never `cargo test`):

    python3 constnorm-onnx/tests/make_node_tests.py
"""

import os
import shutil

import numpy as np
import onnx
from onnx import numpy_helper
from onnx.backend.test.case import node as node_cases

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "data", "node")

MAPPED = {
    "AveragePool", "BatchNormalization", "Clip", "Conv", "Dropout", "Flatten", "Gelu", "Gemm",
    "GlobalAveragePool", "GroupNormalization", "GRU", "HardSigmoid", "HardSwish", "Identity",
    "InstanceNormalization", "LayerNormalization", "LeakyRelu", "LSTM", "MatMul", "MaxPool", "Pad",
    "Relu", "Reshape", "RNN", "Sigmoid", "Softmax", "Tanh",
}


def main():
    if os.path.exists(OUT):
        shutil.rmtree(OUT)
    os.makedirs(OUT)
    written = 0
    for case in sorted(node_cases.collect_testcases(), key=lambda c: c.name):
        model = case.model
        ops = {n.op_type for n in model.graph.node}
        if not ops or not ops <= MAPPED or not case.data_sets or case.name.endswith("_expanded"):
            continue
        inputs, outputs = case.data_sets[0]
        if len(inputs) == 0 or not isinstance(inputs[0], np.ndarray) or inputs[0].dtype != np.float32:
            continue
        if not isinstance(outputs[0], np.ndarray) or outputs[0].dtype != np.float32:
            continue
        graph = model.graph
        for value, info in zip(inputs[1:], list(graph.input[1:])):
            graph.initializer.append(numpy_helper.from_array(np.asarray(value), info.name))
        del graph.input[1:]
        # Only the first output is compared; the others (a layer norm's mean
        # and inverse deviation, a dropout's mask) are dropped from the
        # graph's outputs, as a model that does not expose them has them.
        del graph.output[1:]
        directory = os.path.join(OUT, case.name)
        os.makedirs(directory)
        with open(os.path.join(directory, "model.onnx"), "wb") as f:
            f.write(model.SerializeToString())
        # Large data (the 3d pools, which the importer refuses) is left
        # out; a test that maps without its data fails.
        if inputs[0].nbytes + outputs[0].nbytes <= 64 * 1024:
            np.save(os.path.join(directory, "x.npy"), np.ascontiguousarray(inputs[0]))
            np.save(os.path.join(directory, "y.npy"), np.ascontiguousarray(outputs[0]))
        written += 1
    print(written, "node tests")


if __name__ == "__main__":
    main()
