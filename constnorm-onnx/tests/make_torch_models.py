"""PyTorch models exported to ONNX for the importer's tests.

Each model is built in PyTorch with seeded weights (and, for batch norms,
running statistics that are not the defaults), put in eval mode and
exported with `torch.onnx.export` (the TorchScript exporter, opset 17; the
MLP also at opset 16, where the layer norm is written out),
with and without constant folding. ONNX Runtime's outputs on seeded inputs
are saved beside them:

    tests/data/torch/{name}.onnx          constant folding on (the default)
    tests/data/torch/{name}.nofold.onnx   do_constant_folding=False
    tests/data/torch/{name}.x.npy         6 inputs
    tests/data/torch/{name}.ort.npy       ONNX Runtime's outputs on them

For the CNN (the one of tests/cnn_fixture.rs, from its initial state) it
also records one SGD step in train mode, to check that the imported
network trains as PyTorch's does (cnn.step.safetensors: the batch, the
targets, the loss, and the state dict after the step).

Run from the repository root (needs torch, numpy, onnx, onnxruntime,
safetensors; never `cargo test`):

    python3 constnorm-onnx/tests/make_torch_models.py
"""

import os

import numpy as np
import onnxruntime as ort
import torch
from safetensors.torch import load_file, save_file
from torch import nn

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "data", "torch")
ROOT = os.path.dirname(os.path.dirname(HERE))


def cnn():
    """tests/cnn_fixture.rs's CNN, with PyTorch's initial state of the
    fixture (float64 there, float32 here)."""
    model = nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(4, 8, 3, padding=1), nn.GroupNorm(2, 8), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 10),
    )
    state = load_file(os.path.join(ROOT, "tests", "fixtures", "cnn_init_f64.safetensors"))
    model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()})
    return model, (1, 8, 8)


class Mlp(nn.Module):
    """The README's MLP: Linear, BatchNorm1d, ReLU, Linear, LayerNorm, ReLU,
    Linear."""

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(4, 16)
        self.bn1 = nn.BatchNorm1d(16)
        self.act1 = nn.ReLU()
        self.fc2 = nn.Linear(16, 16)
        self.ln2 = nn.LayerNorm(16)
        self.act2 = nn.ReLU()
        self.out = nn.Linear(16, 3)

    def forward(self, x):
        return self.out(self.act2(self.ln2(self.fc2(self.act1(self.bn1(self.fc1(x)))))))


class BasicBlock(nn.Module):
    """A ResNet basic block with a projection shortcut (1x1 stride-2 conv
    and batch norm), then the usual stem and head around it."""

    def __init__(self, cin=8, cout=16):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=2, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU()
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=2, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        return torch.relu(self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x))))) + self.shortcut(x))


class ResNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.block = BasicBlock()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(16, 5)

    def forward(self, x):
        return self.fc(torch.flatten(self.pool(self.block(torch.relu(self.stem(x)))), 1))


class Separable(nn.Module):
    """A depthwise-separable block (MobileNetV1): depthwise 3x3 stride 2,
    BN, ReLU6, pointwise 1x1, BN, ReLU6; then a max pool and a head."""

    def __init__(self):
        super().__init__()
        self.dw = nn.Conv2d(6, 6, 3, stride=2, padding=1, groups=6, bias=False)
        self.dw_bn = nn.BatchNorm2d(6)
        self.dw_relu = nn.ReLU6()
        self.pw = nn.Conv2d(6, 12, 1, bias=False)
        self.pw_bn = nn.BatchNorm2d(12)
        self.pw_relu = nn.ReLU6()
        self.pool = nn.MaxPool2d(2)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(12 * 4 * 4, 4)

    def forward(self, x):
        x = self.dw_relu(self.dw_bn(self.dw(x)))
        x = self.pw_relu(self.pw_bn(self.pw(x)))
        return self.fc(self.flatten(self.pool(x)))


class GruClassifier(nn.Module):
    """A GRU over 10 steps of 12 features (batch first), its last step's
    output through a Linear: the recurrent line people write."""

    def __init__(self):
        super().__init__()
        self.gru = nn.GRU(12, 32, batch_first=True)
        self.fc = nn.Linear(32, 9)

    def forward(self, x):
        out, _ = self.gru(x)
        return self.fc(out[:, -1])


class BiLstm(nn.Module):
    """Two bidirectional LSTM layers (PyTorch's num_layers=2), the last
    step of the second, a Linear."""

    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(6, 8, num_layers=2, batch_first=True, bidirectional=True)
        self.fc = nn.Linear(16, 3)

    def forward(self, x):
        out, _ = self.lstm(x)
        return self.fc(out[:, -1])


class RnnFinalState(nn.Module):
    """An Elman RNN with ReLU whose final state h_n goes to the head."""

    def __init__(self):
        super().__init__()
        self.rnn = nn.RNN(5, 7, batch_first=True, nonlinearity="relu")
        self.fc = nn.Linear(7, 2)

    def forward(self, x):
        _, h = self.rnn(x)
        return self.fc(h[-1])


def randomize_batch_norms(model, gen):
    """Running statistics and affine parameters that are not the defaults,
    so that a batch norm mapped wrongly shows."""
    for m in model.modules():
        if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            with torch.no_grad():
                m.running_mean.copy_(torch.randn(m.num_features, generator=gen) * 0.5)
                m.running_var.copy_(torch.rand(m.num_features, generator=gen) + 0.5)
                m.weight.copy_(torch.rand(m.num_features, generator=gen) + 0.5)
                m.bias.copy_(torch.randn(m.num_features, generator=gen) * 0.2)


def export(model, shape, name, gen, opset=17):
    model.eval()
    x = torch.randn((6,) + shape, generator=gen)
    for suffix, fold in [("", True), (".nofold", False)]:
        path = os.path.join(OUT, f"{name}{suffix}.onnx")
        torch.onnx.export(
            model, (x[:1],), path, dynamo=False, opset_version=opset,
            input_names=["x"], output_names=["y"],
            dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}},
            do_constant_folding=fold,
            # Keep the batch norms as nodes (the eval export would fold
            # them into the convolutions).
            training=torch.onnx.TrainingMode.PRESERVE,
        )
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(os.path.join(OUT, f"{name}.onnx"), options, providers=["CPUExecutionProvider"])
    y = session.run(None, {"x": x.numpy()})[0]
    with torch.no_grad():
        assert np.abs(model(x).numpy() - y).max() < 1e-4, name
    np.save(os.path.join(OUT, f"{name}.x.npy"), x.numpy().astype(np.float32))
    np.save(os.path.join(OUT, f"{name}.ort.npy"), y.astype(np.float32))
    return x


def same_upper(gen):
    """Not PyTorch's: a Conv with `auto_pad = SAME_UPPER` and stride 2 (as
    TensorFlow's converters write it), whose pads are asymmetric (0 before,
    1 after), then ReLU, global average pool, Flatten, Gemm; built with
    onnx.helper."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    weights = {
        "conv.weight": rng.standard_normal((4, 3, 3, 3)).astype(np.float32),
        "conv.bias": rng.standard_normal(4).astype(np.float32),
        "fc.weight": rng.standard_normal((2, 4)).astype(np.float32),
        "fc.bias": rng.standard_normal(2).astype(np.float32),
    }
    nodes = [
        helper.make_node("Conv", ["x", "conv.weight", "conv.bias"], ["c"], name="/conv/Conv",
                         kernel_shape=[3, 3], strides=[2, 2], auto_pad="SAME_UPPER"),
        helper.make_node("Relu", ["c"], ["r"], name="/relu/Relu"),
        helper.make_node("GlobalAveragePool", ["r"], ["p"], name="/pool/GlobalAveragePool"),
        helper.make_node("Flatten", ["p"], ["f"], name="/flatten/Flatten"),
        helper.make_node("Gemm", ["f", "fc.weight", "fc.bias"], ["y"], name="/fc/Gemm", transB=1),
    ]
    graph = helper.make_graph(
        nodes, "same_upper",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 2])],
        [numpy_helper.from_array(v, k) for k, v in weights.items()],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    path = os.path.join(OUT, "conv_same_upper.onnx")
    onnx.save(model, path)
    x = torch.randn((6, 3, 8, 8), generator=gen).numpy()
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    np.save(os.path.join(OUT, "conv_same_upper.x.npy"), x)
    np.save(os.path.join(OUT, "conv_same_upper.ort.npy"), session.run(None, {"x": x})[0])


def cnn_step(model):
    """One SGD step (lr 0.1, momentum 0.9) in train mode on 8 seeded
    images, cross-entropy; the state dict after it."""
    gen = torch.Generator().manual_seed(7)
    x = torch.rand((8, 1, 8, 8), generator=gen)
    target = torch.randint(0, 10, (8,), generator=gen)
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    opt.zero_grad()
    loss = nn.functional.cross_entropy(model(x), target)
    loss.backward()
    opt.step()
    tensors = {"x": x, "target": target.float(), "loss": loss.detach().reshape(1)}
    for k, v in model.state_dict().items():
        tensors[f"after.{k}"] = v.float() if v.is_floating_point() else v
    save_file(tensors, os.path.join(OUT, "cnn.step.safetensors"))


def main():
    os.makedirs(OUT, exist_ok=True)
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    model, shape = cnn()
    randomize_batch_norms(model, gen)
    export(model, shape, "cnn", gen)
    cnn_step(model)
    for name, model, shape in [
        ("mlp", Mlp(), (4,)),
        ("resnet_block", ResNet(), (3, 16, 16)),
        ("separable", Separable(), (6, 16, 16)),
        ("gru", GruClassifier(), (10, 12)),
        ("bilstm", BiLstm(), (10, 6)),
        ("rnn", RnnFinalState(), (10, 5)),
    ]:
        randomize_batch_norms(model, gen)
        export(model, shape, name, gen)
        print(name)
    # Before opset 17 a layer norm is written out (ReduceMean, Sub, Pow,
    # ReduceMean, Add, Sqrt, Div, Mul, Add).
    model = Mlp()
    randomize_batch_norms(model, gen)
    with torch.no_grad():
        model.ln2.weight.copy_(torch.rand(16, generator=gen) + 0.5)
        model.ln2.bias.copy_(torch.randn(16, generator=gen) * 0.2)
    export(model, (4,), "mlp_opset16", gen, opset=16)
    same_upper(gen)


if __name__ == "__main__":
    main()
