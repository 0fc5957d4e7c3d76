"""The layer-norm and batch-norm workloads of benches/norms.rs in PyTorch on
CPU, one thread, f32, the same shapes (a second process: run it beside
`cargo bench --bench norms`, not inside it).

    /work/venv/bin/python benches/torch_norms.py

Prints the mean time per iteration of each workload (the best of several
repeats of a timed loop, after a warm-up); BENCHMARKS.md sets them beside
criterion's figures for constnorm.
"""

import torch
from torch import nn

from torch_conv import forward_and_backward, per_iteration, show


def inputs(rows, dims):
    """x and dy of the Rust benches' range, [-3, 4)."""
    return torch.rand(rows, dims) * 7 - 3, torch.rand(rows, dims) * 7 - 3


def layer_norm(rows, dims):
    forward_and_backward(f"layernorm {rows}x{dims}", nn.LayerNorm(dims), *inputs(rows, dims))


def batch_norm(rows, channels):
    name = f"batchnorm1d train {rows}x{channels}"
    forward_and_backward(name, nn.BatchNorm1d(channels), *inputs(rows, channels))


if __name__ == "__main__":
    torch.set_num_threads(1)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread")
    for rows, dims in ((1, 3), (32, 16), (64, 64), (64, 768), (256, 4096), (4096, 4096)):
        layer_norm(rows, dims)
    for rows, channels in ((2, 16), (32, 16), (256, 64)):
        batch_norm(rows, channels)
    # Beside `cargo bench --bench norms --features parallel -- parallel`.
    torch.set_num_threads(2)
    print(f"{torch.get_num_threads()} threads")
    for rows in (256, 4096):
        ln = nn.LayerNorm(4096)
        x, _ = inputs(rows, 4096)

        def forward():
            with torch.no_grad():
                ln(x)

        show(f"layernorm {rows}x4096/forward, 2 threads", per_iteration(forward))
