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

from torch_conv import per_iteration, show


def layer_norm(rows, dims):
    ln = nn.LayerNorm(dims)
    x = torch.rand(rows, dims) * 7 - 3
    dy = torch.rand(rows, dims) * 7 - 3
    name = f"layernorm {rows}x{dims}"

    def forward():
        with torch.no_grad():
            ln(x)

    xg = x.clone().requires_grad_()

    def forward_backward():
        ln.zero_grad(set_to_none=True)
        xg.grad = None
        ln(xg).backward(dy)

    show(f"{name}/forward", per_iteration(forward))
    show(f"{name}/forward+backward", per_iteration(forward_backward))


def batch_norm(rows, channels):
    bn = nn.BatchNorm1d(channels)
    x = torch.rand(rows, channels) * 7 - 3
    dy = torch.rand(rows, channels) * 7 - 3
    name = f"batchnorm1d train {rows}x{channels}"

    def forward():
        with torch.no_grad():
            bn(x)

    xg = x.clone().requires_grad_()

    def forward_backward():
        bn.zero_grad(set_to_none=True)
        xg.grad = None
        bn(xg).backward(dy)

    show(f"{name}/forward", per_iteration(forward))
    show(f"{name}/forward+backward", per_iteration(forward_backward))


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
        x = torch.rand(rows, 4096) * 7 - 3

        def forward():
            with torch.no_grad():
                ln(x)

        show(f"layernorm {rows}x4096/forward, 2 threads", per_iteration(forward))
