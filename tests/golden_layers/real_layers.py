"""PyTorch reference vectors of the layers the shipped real models need
(hard swish and hard sigmoid, padding, the complex magnitude,
squeeze-and-excitation), written to real_layers.json in the format of
../shared/golden_layers (see tests/golden_layers: name, op, module, dtype,
options, params, inputs, outputs, dy, grads; every tensor flat, row-major).

Run with any Python that has torch:  python3 tests/golden_layers/real_layers.py
Truth is float64; each case's gradients are those of
sum(outputs * dy) for the input and every parameter.
"""

import json
import pathlib

import torch

torch.manual_seed(20261207)
torch.set_num_threads(1)
torch.set_default_dtype(torch.float64)


def tensor(t):
    t = t.detach().to(torch.float64)
    return {"shape": list(t.shape), "values": t.flatten().tolist()}


class PaddleHardsigmoid(torch.nn.Module):
    """Paddle's (and ONNX's default) hard sigmoid: clamp(0.2 x + 0.5, 0, 1)."""

    def forward(self, x):
        return torch.clamp(0.2 * x + 0.5, 0.0, 1.0)


class SqueezeExcitation(torch.nn.Module):
    """torchvision.ops.SqueezeExcitation, written out (same keys)."""

    def __init__(self, c, s, activation, scale_activation):
        super().__init__()
        self.avgpool = torch.nn.AdaptiveAvgPool2d(1)
        self.fc1 = torch.nn.Conv2d(c, s, 1)
        self.fc2 = torch.nn.Conv2d(s, c, 1)
        self.activation = activation
        self.scale_activation = scale_activation

    def forward(self, x):
        scale = self.scale_activation(self.fc2(self.activation(self.fc1(self.avgpool(x)))))
        return scale * x


class Magnitude(torch.nn.Module):
    """|re + i im| of the two channel halves, as torch.abs of a complex
    tensor (whose gradient at 0 is 0)."""

    def forward(self, x):
        c = x.shape[1] // 2
        return torch.abs(torch.complex(x[:, :c], x[:, c:]))


def case(name, op, module, options, x, extra_modules=None):
    x = x.clone().requires_grad_(True)
    y = module(x)
    dy = torch.randn_like(y)
    params = dict(module.state_dict())
    for p in module.parameters():
        p.grad = None
    (y * dy).sum().backward()
    grads = {"x": tensor(x.grad)}
    for key, p in module.named_parameters():
        grads[key] = tensor(p.grad)
    return {
        "name": name,
        "op": op,
        "module": extra_modules or f"torch.nn.{type(module).__name__}",
        "dtype": "f64",
        "modes": ["train"],
        "options": options,
        "params": {k: tensor(v) for k, v in params.items()},
        "inputs": {"x": tensor(x)},
        "outputs": {"y": tensor(y)},
        "dy": {"y": tensor(dy)},
        "grads": grads,
    }


def with_corners(shape, scale, corners):
    """Random values in -scale..scale with the given values at the front."""
    x = (torch.rand(shape) * 2 - 1) * scale
    flat = x.view(-1)
    flat[: len(corners)] = torch.tensor(corners)
    return x


cases = []
torch_corners = [-3.0, 3.0, 0.0, -2.9999, 2.9999, -3.0001, 3.0001]
paddle_corners = [-2.5, 2.5, 0.0, -2.4999, 2.4999]
cases.append(case("hardswish_f64_4x8", "hardswish", torch.nn.Hardswish(), {}, with_corners((4, 8), 5.0, torch_corners)))
cases.append(case("hardsigmoid_f64_4x8", "hardsigmoid", torch.nn.Hardsigmoid(), {}, with_corners((4, 8), 5.0, torch_corners)))
cases.append(
    case(
        "hardsigmoid_paddle_f64_4x8",
        "hardsigmoid",
        PaddleHardsigmoid(),
        {"slope": 0.2, "offset": 0.5},
        with_corners((4, 8), 4.0, paddle_corners),
        "clamp(0.2 x + 0.5, 0, 1) (Paddle's hard_sigmoid, ONNX HardSigmoid)",
    )
)
x1 = torch.randn(3, 2, 5)
x2 = torch.randn(2, 2, 4, 5)
cases.append(case("reflection_pad1d_f64_3x2x5", "pad", torch.nn.ReflectionPad1d((2, 4)), {"padding": [2, 4]}, x1))
cases.append(case("reflection_pad1d_f64_3x2x5_right", "pad", torch.nn.ReflectionPad1d((0, 3)), {"padding": [0, 3]}, x1))
cases.append(case("replication_pad1d_f64_3x2x5", "pad", torch.nn.ReplicationPad1d((3, 1)), {"padding": [3, 1]}, x1))
cases.append(
    case("constant_pad1d_f64_3x2x5", "pad", torch.nn.ConstantPad1d((1, 2), 0.75), {"padding": [1, 2], "value": 0.75}, x1)
)
cases.append(
    case("reflection_pad2d_f64_2x2x4x5", "pad", torch.nn.ReflectionPad2d((1, 3, 2, 0)), {"padding": [1, 3, 2, 0]}, x2)
)
cases.append(
    case("replication_pad2d_f64_2x2x4x5", "pad", torch.nn.ReplicationPad2d((2, 0, 1, 3)), {"padding": [2, 0, 1, 3]}, x2)
)
cases.append(case("zero_pad2d_f64_2x2x4x5", "pad", torch.nn.ZeroPad2d((0, 2, 1, 1)), {"padding": [0, 2, 1, 1]}, x2))
xm = torch.randn(3, 6, 4)
xm[0, 1, 2] = 0.0
xm[0, 4, 2] = 0.0  # re = im = 0: the gradient there is 0
cases.append(case("complex_magnitude_f64_3x6x4", "complex_magnitude", Magnitude(), {}, xm, "torch.abs(torch.complex(re, im))"))
class StftMagnitude(torch.nn.Module):
    """torch.stft(x, n_fft, hop, window=hann_window(n_fft), center=False).abs()
    on one channel."""

    def __init__(self, n_fft, hop):
        super().__init__()
        self.n_fft, self.hop = n_fft, hop

    def forward(self, x):
        window = torch.hann_window(self.n_fft, dtype=x.dtype)
        spec = torch.stft(x[:, 0], self.n_fft, self.hop, window=window, center=False, return_complex=True)
        return spec.abs()


cases.append(
    case(
        "stft_magnitude_f64_3x1x40",
        "stft_magnitude",
        StftMagnitude(16, 8),
        {"n_fft": 16, "hop_length": 8, "window": "hann_window(16)", "center": False},
        torch.randn(3, 1, 40),
        "torch.stft(..).abs()",
    )
)
se = SqueezeExcitation(4, 2, torch.nn.ReLU(), torch.nn.Sigmoid())
for p in se.parameters():
    torch.nn.init.uniform_(p, -1.0, 1.0)
cases.append(
    case(
        "squeeze_excitation_f64_3x4x3x5",
        "squeeze_excitation",
        se,
        {"input_channels": 4, "squeeze_channels": 2, "activation": "ReLU", "scale_activation": "Sigmoid"},
        torch.randn(3, 4, 3, 5),
        "torchvision.ops.SqueezeExcitation",
    )
)
se_hard = SqueezeExcitation(6, 3, torch.nn.ReLU(), PaddleHardsigmoid())
for p in se_hard.parameters():
    torch.nn.init.uniform_(p, -1.0, 1.0)
cases.append(
    case(
        "squeeze_excitation_paddle_f64_2x6x2x3",
        "squeeze_excitation",
        se_hard,
        {"input_channels": 6, "squeeze_channels": 3, "activation": "ReLU", "scale_activation": "hard_sigmoid(0.2, 0.5)"},
        torch.randn(2, 6, 2, 3) * 3,
        "torchvision.ops.SqueezeExcitation with Paddle's hard sigmoid",
    )
)

out = {
    "source": f"PyTorch {torch.__version__}, CPU (1 thread); truth in float64; tests/golden_layers/real_layers.py",
    "seed": 20261207,
    "hidden": False,
    "format": "as ../shared/golden_layers/README.md",
    "cases": cases,
}
path = pathlib.Path(__file__).with_name("real_layers.json")
path.write_text(json.dumps(out))
print(f"wrote {len(cases)} cases to {path}")
