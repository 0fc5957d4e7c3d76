"""The four MLPerf Tiny v1.x reference models in float32, in PyTorch and ONNX
Runtime on CPU, one thread: the reference figures for benches/mlperf_tiny.rs
(issue 19, convolution speed).

    python3 -m venv /work/V
    /work/V/bin/pip install torch numpy onnx onnxruntime safetensors
    /work/V/bin/python benches/mlperf_tiny.py [--json FILE] [--budget S] [--data-only]

- AD, anomaly detection: the dense autoencoder 640-128x4-8-128x4-640 with
  BatchNorm1d and ReLU after every hidden Linear;
- KWS, keyword spotting: DS-CNN on 1x49x10 MFCCs, a (10, 4) stride-2 stem
  and four depthwise-separable blocks of 64 channels, AvgPool2d((25, 5));
- IC, image classification: ResNet-8 on 3x32x32, three basic blocks
  (16, 32, 64 channels; the last two halve the resolution and take a 1x1
  stride-2 convolution on the skip path);
- VWW, visual wake words: MobileNetV1 with width 0.25 on 3x96x96, ReLU6.

Convolutions followed by a batch norm have no bias (PyTorch's usual); the
1x1 shortcut convolutions of ResNet-8, which no batch norm follows, have
one. Every module attribute is named as the field of the Rust twin in
benches/mlperf_tiny/models.rs, so the state-dict keys are the same.

The script writes benches/data/mlperf_tiny/<model>.safetensors (the state
dict, f32, `num_batches_tracked` int64), <model>_io.safetensors (a fixed
input batch `x` of 32 and PyTorch's eval outputs `y`) and <model>.onnx
(opset 17, eval mode, dynamic batch; not committed), then times, with one
thread: ONNX Runtime and PyTorch inference at batch 1 and 32, one PyTorch
SGD step (momentum 0.9, lr 0.01; cross-entropy, MSE for AD) at batch 32 in
training mode, and every distinct convolution alone (ONNX Runtime on a
one-node graph and PyTorch inference at batch 1, PyTorch forward+backward
at batch 32). Each figure is the median over many repetitions after a
warm-up, about `--budget` seconds each; GMAC/s counts a forward pass's
multiply-adds of every convolution and Linear, and three times that for a
training step or forward+backward (output, input and weight gradients).
"""

import argparse
import copy
import json
import statistics
import time
import warnings
from collections import OrderedDict
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch
import torch.nn.functional as F
from onnx import TensorProto, helper, numpy_helper
from safetensors.torch import save_file
from torch import nn

DATA = Path(__file__).resolve().parent / "data" / "mlperf_tiny"
BATCH = 32
SEED = 19


# The models.

def dense(c_in, c_out):
    return [nn.Linear(c_in, c_out), nn.BatchNorm1d(c_out), nn.ReLU()]


def autoencoder():
    """AD: 640 -> [Linear 128, BN, ReLU] x 4 -> [Linear 8, BN, ReLU] ->
    [Linear 128, BN, ReLU] x 4 -> Linear 640; keys fc1 ... fc10, bn1 ... bn9."""
    widths = [640, 128, 128, 128, 128, 8, 128, 128, 128, 128]
    layers = OrderedDict()
    for i, (c_in, c_out) in enumerate(zip(widths, widths[1:]), start=1):
        fc, bn, relu = dense(c_in, c_out)
        layers.update({f"fc{i}": fc, f"bn{i}": bn, f"relu{i}": relu})
    layers["fc10"] = nn.Linear(128, 640)
    return nn.Sequential(layers)


def separable(c_in, c_out, stride, act):
    """A depthwise-separable block: dw 3x3 + BN + act, pw 1x1 + BN + act."""
    return nn.Sequential(OrderedDict(
        dw=nn.Conv2d(c_in, c_in, 3, stride, 1, groups=c_in, bias=False),
        dw_bn=nn.BatchNorm2d(c_in),
        dw_relu=act(),
        pw=nn.Conv2d(c_in, c_out, 1, bias=False),
        pw_bn=nn.BatchNorm2d(c_out),
        pw_relu=act(),
    ))


def ds_cnn():
    """KWS: DS-CNN on 1x49x10; the stem gives 64x25x5."""
    layers = OrderedDict(
        conv=nn.Conv2d(1, 64, (10, 4), stride=2, padding=(5, 1), bias=False),
        bn=nn.BatchNorm2d(64),
        relu=nn.ReLU(),
    )
    for i in range(1, 5):
        layers[f"block{i}"] = separable(64, 64, 1, nn.ReLU)
    layers.update(pool=nn.AvgPool2d((25, 5)), flatten=nn.Flatten(), fc=nn.Linear(64, 12))
    return nn.Sequential(layers)


class Residual(nn.Module):
    """`bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x)`, the shortcut a 1x1
    convolution when the block changes the shape, else the identity: the
    Rust `#[network(residual)]` block; the ReLU after the sum is the next
    layer of the enclosing network, as in Rust."""

    def __init__(self, c_in, c_out, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.relu = nn.ReLU()
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.shortcut = nn.Conv2d(c_in, c_out, 1, stride) if stride != 1 else None

    def forward(self, x):
        f = self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x)))))
        return f + (x if self.shortcut is None else self.shortcut(x))


def resnet8():
    """IC: ResNet-8 on 3x32x32."""
    return nn.Sequential(OrderedDict(
        conv=nn.Conv2d(3, 16, 3, padding=1, bias=False),
        bn=nn.BatchNorm2d(16),
        relu=nn.ReLU(),
        layer1=Residual(16, 16, 1),
        relu1=nn.ReLU(),
        layer2=Residual(16, 32, 2),
        relu2=nn.ReLU(),
        layer3=Residual(32, 64, 2),
        relu3=nn.ReLU(),
        pool=nn.AdaptiveAvgPool2d(1),
        flatten=nn.Flatten(),
        fc=nn.Linear(64, 10),
    ))


# MobileNetV1 alpha 0.25: each block's output channels and depthwise stride.
MOBILENET = [(16, 1), (32, 2), (32, 1), (64, 2), (64, 1), (128, 2), (128, 1),
             (128, 1), (128, 1), (128, 1), (128, 1), (256, 2), (256, 1)]


def mobilenet():
    """VWW: MobileNetV1 x0.25 on 3x96x96, ReLU6."""
    layers = OrderedDict(
        conv=nn.Conv2d(3, 8, 3, stride=2, padding=1, bias=False),
        bn=nn.BatchNorm2d(8),
        relu=nn.ReLU6(),
    )
    c_in = 8
    for i, (c_out, stride) in enumerate(MOBILENET, start=1):
        layers[f"block{i}"] = separable(c_in, c_out, stride, nn.ReLU6)
        c_in = c_out
    layers.update(pool=nn.AdaptiveAvgPool2d(1), flatten=nn.Flatten(), fc=nn.Linear(256, 2))
    return nn.Sequential(layers)


# name: (constructor, input shape of one example, classes; 0 for AD's MSE)
MODELS = {
    "ad": (autoencoder, (640,), 0),
    "kws": (ds_cnn, (1, 49, 10), 12),
    "ic": (resnet8, (3, 32, 32), 10),
    "vww": (mobilenet, (3, 96, 96), 2),
}


def batch_norms(model):
    return [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]


def make(name):
    """The model with PyTorch's initialization and batch norms whose running
    statistics are those of random inputs (a cumulative average over 8
    training-mode batches, so inference stays in range through 13 blocks),
    then moved off them, with affine parameters off 1 and 0, so that every
    term of inference matters."""
    build, shape, _ = MODELS[name]
    model = build()
    for bn in batch_norms(model):
        bn.momentum = None
    model.train()
    with torch.no_grad():
        for _ in range(8):
            model(torch.randn(BATCH, *shape))
        for bn in batch_norms(model):
            bn.momentum = 0.1
            n = bn.num_features
            bn.running_mean += 0.1 * bn.running_var.sqrt() * torch.randn(n)
            bn.running_var *= torch.empty(n).uniform_(0.8, 1.25)
            bn.weight.uniform_(0.75, 1.25)
            bn.bias.uniform_(-0.25, 0.25)
    return model.eval()


def write_data(name, model):
    """The state dict, the io pair and the ONNX export; returns (x, y)."""
    _, shape, _ = MODELS[name]
    x = torch.randn(BATCH, *shape)
    with torch.no_grad():
        y = model(x)
    DATA.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    save_file(state, DATA / f"{name}.safetensors")
    save_file({"x": x.contiguous(), "y": y.contiguous()}, DATA / f"{name}_io.safetensors")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter is deprecated
        torch.onnx.export(
            model, (x[:1],), str(DATA / f"{name}.onnx"), dynamo=False, opset_version=17,
            input_names=["x"], output_names=["y"],
            dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}},
        )
    return x, y


def session(model_bytes_or_path):
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    return ort.InferenceSession(model_bytes_or_path, opts, providers=["CPUExecutionProvider"])


def rel_diff(a, b):
    """max |a - b| / max |b|."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-30))


# Multiply-adds, per example.

def conv_macs(conv, out_shape):
    c_out, h, w = out_shape
    kh, kw = conv.kernel_size
    return c_out * h * w * (conv.in_channels // conv.groups) * kh * kw


def census(model, shape):
    """Multiply-adds of one example's forward pass, and every distinct
    convolution: its first module's name, geometry, input shape and count."""
    macs, convs, hooks = [0], OrderedDict(), []

    def hook(name):
        def record(module, inputs, output):
            if isinstance(module, nn.Linear):
                macs[0] += module.in_features * module.out_features
                return
            m = conv_macs(module, tuple(output.shape[1:]))
            macs[0] += m
            in_shape = tuple(inputs[0].shape[1:])
            key = (module.in_channels, module.out_channels, module.kernel_size, module.stride,
                   module.padding, module.groups, module.bias is not None, in_shape)
            if key in convs:
                convs[key]["count"] += 1
            else:
                convs[key] = {"name": name, "module": module, "input": in_shape,
                              "output": tuple(output.shape[1:]), "macs": m, "count": 1}
        return record

    for name, m in model.named_modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            hooks.append(m.register_forward_hook(hook(name)))
    with torch.no_grad():
        model(torch.zeros(1, *shape))
    for h in hooks:
        h.remove()
    return macs[0], list(convs.values())


def conv_graph(conv, in_shape):
    """`conv` as a one-node ONNX graph with a dynamic batch."""
    ph, pw = conv.padding
    inputs = ["x", "w"] + (["b"] if conv.bias is not None else [])
    node = helper.make_node(
        "Conv", inputs, ["y"], kernel_shape=list(conv.kernel_size), strides=list(conv.stride),
        pads=[ph, pw, ph, pw], group=conv.groups, dilations=list(conv.dilation))
    inits = [numpy_helper.from_array(conv.weight.detach().numpy(), "w")]
    if conv.bias is not None:
        inits.append(numpy_helper.from_array(conv.bias.detach().numpy(), "b"))
    graph = helper.make_graph(
        [node], "conv",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", *in_shape])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        initializer=inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString()


# Timing.

def median_time(fn, budget):
    """Seconds per call of fn: the median over samples of `n` calls (n such
    that a sample takes about 2 ms), after about a tenth of the budget of
    warm-up, for about `budget` seconds (at least 5 samples)."""
    start = time.perf_counter()
    fn()
    while time.perf_counter() - start < 0.1 * budget:
        fn()
    n, t = 1, 0.0
    while True:
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        t = time.perf_counter() - t0
        if t >= 2e-3:
            break
        n *= 2
    samples, start = [], time.perf_counter()
    while len(samples) < 5 or time.perf_counter() - start < budget:
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        samples.append((time.perf_counter() - t0) / n)
    return statistics.median(samples)


def show(label, seconds, macs=None):
    for unit, scale in (("s", 1.0), ("ms", 1e3), ("us", 1e6), ("ns", 1e9)):
        if seconds * scale >= 1.0:
            break
    rate = f"  {macs / seconds / 1e9:7.2f} GMAC/s" if macs else ""
    print(f"{label:<44} {seconds * scale:9.2f} {unit:<2}{rate}", flush=True)


def time_model(name, model, budget):
    """ORT and PyTorch inference at batch 1 and 32, and a PyTorch SGD step."""
    _, shape, classes = MODELS[name]
    macs, _ = census(model, shape)
    sess = session(str(DATA / f"{name}.onnx"))
    out = {"macs": macs}
    for b in (1, BATCH):
        x = torch.randn(b, *shape)
        xn = x.numpy()
        with torch.no_grad():
            ref = model(x).numpy()
        d = rel_diff(sess.run(None, {"x": xn})[0], ref)
        assert d < 1e-4, f"{name}: ONNX Runtime differs from PyTorch by {d:e}"
        t = median_time(lambda: sess.run(None, {"x": xn}), budget)
        out[f"ort_eval_b{b}"] = t
        show(f"{name}/eval b{b}/onnxruntime", t, macs * b)

        def forward():
            with torch.no_grad():
                model(x)

        t = median_time(forward, budget)
        out[f"torch_eval_b{b}"] = t
        show(f"{name}/eval b{b}/torch", t, macs * b)

    net = copy.deepcopy(model).train()
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
    x = torch.randn(BATCH, *shape)
    t_ = torch.randint(0, max(classes, 1), (BATCH,))

    def step():
        opt.zero_grad()
        y = net(x)
        loss = F.mse_loss(y, x) if classes == 0 else F.cross_entropy(y, t_)
        loss.backward()
        opt.step()

    t = median_time(step, budget)
    out[f"torch_train_b{BATCH}"] = t
    show(f"{name}/train step b{BATCH}/torch", t, 3 * macs * BATCH)
    return out


def time_convs(name, model, budget):
    """Every distinct convolution alone."""
    _, shape, _ = MODELS[name]
    _, convs = census(model, shape)
    rows = []
    for c in convs:
        conv = copy.deepcopy(c["module"])
        label = f"{name}/{c['name']}"
        sess = session(conv_graph(conv, c["input"]))
        x1 = torch.randn(1, *c["input"])
        x1n = x1.numpy()
        with torch.no_grad():
            d = rel_diff(sess.run(None, {"x": x1n})[0], conv(x1).numpy())
        assert d < 1e-4, f"{label}: ONNX Runtime differs from PyTorch by {d:e}"
        ort_b1 = median_time(lambda: sess.run(None, {"x": x1n}), budget)

        def forward():
            with torch.no_grad():
                conv(x1)

        torch_b1 = median_time(forward, budget)
        xg = torch.randn(BATCH, *c["input"]).requires_grad_()
        dy = torch.randn(BATCH, *c["output"])

        def forward_backward():
            conv.zero_grad(set_to_none=True)
            xg.grad = None
            conv(xg).backward(dy)

        torch_fb = median_time(forward_backward, budget)
        m = c["macs"]
        geometry = (f"{conv.in_channels}->{conv.out_channels} k{conv.kernel_size[0]}x"
                    f"{conv.kernel_size[1]} s{conv.stride[0]} g{conv.groups} on "
                    f"{'x'.join(map(str, c['input']))}")
        print(f"{label} ({geometry}, x{c['count']}, {m / 1e6:.3f} MMAC)")
        show("  eval b1/onnxruntime", ort_b1, m)
        show("  eval b1/torch", torch_b1, m)
        show(f"  forward+backward b{BATCH}/torch", torch_fb, 3 * m * BATCH)
        rows.append({
            "model": name, "name": c["name"], "geometry": geometry, "count": c["count"],
            "input": c["input"], "output": c["output"], "macs": m,
            "ort_eval_b1": ort_b1, "torch_eval_b1": torch_b1,
            f"torch_fwd_bwd_b{BATCH}": torch_fb,
        })
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", help="write every figure (seconds, MACs) to this file")
    parser.add_argument("--budget", type=float, default=1.0,
                        help="seconds of measurement per figure (default 1)")
    parser.add_argument("--data-only", action="store_true",
                        help="write the data files and stop")
    args = parser.parse_args()

    torch.manual_seed(SEED)
    torch.set_num_threads(1)
    meta = {
        "torch": torch.__version__, "onnxruntime": ort.__version__,
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "threads": torch.get_num_threads(), "batch": BATCH,
    }
    print(", ".join(f"{k} {v}" for k, v in meta.items()))
    models = {}
    for name in MODELS:
        models[name] = make(name)
        x, y = write_data(name, models[name])
        print(f"{name}: wrote {name}.safetensors, {name}_io.safetensors (x {list(x.shape)}, "
              f"y {list(y.shape)}), {name}.onnx")
    if args.data_only:
        return
    report = {"meta": meta, "models": {}, "convs": []}
    for name, model in models.items():
        report["models"][name] = time_model(name, model, args.budget)
    for name, model in models.items():
        report["convs"] += time_convs(name, model, args.budget)
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
