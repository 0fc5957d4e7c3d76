"""The workloads of benches/conv.rs in PyTorch on CPU, one thread.

    /work/venv/bin/python benches/torch_conv.py

Prints the mean time per iteration of each workload (the best of several
repeats of a timed loop, after a warm-up); BENCHMARKS.md sets them beside
criterion's figures for constnorm.
"""

import time

import torch
import torch.nn.functional as F
from torch import nn


def per_iteration(fn, min_time=0.5, repeats=5):
    """Seconds per call of fn: the best mean over `repeats` timed loops."""
    for _ in range(3):
        fn()
    n, elapsed = 1, 0.0
    while elapsed < 0.1:  # pick a loop length of about 0.1 s
        n *= 2
        start = time.perf_counter()
        for _ in range(n):
            fn()
        elapsed = time.perf_counter() - start
    n = max(1, int(n * min_time / elapsed))
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(n):
            fn()
        best = min(best, (time.perf_counter() - start) / n)
    return best


def show(name, seconds):
    for unit, scale in (("s", 1.0), ("ms", 1e3), ("us", 1e6), ("ns", 1e9)):
        if seconds * scale >= 1.0:
            break
    print(f"{name:<52} {seconds * scale:9.2f} {unit}")


def forward_and_backward(name, module, x, dy):
    """Shows the time of `module`'s forward pass on `x` (no autograd), and of
    its forward and backward passes with output gradient `dy`."""

    def forward():
        with torch.no_grad():
            module(x)

    xg = x.clone().requires_grad_()

    def forward_backward():
        module.zero_grad(set_to_none=True)
        xg.grad = None
        module(xg).backward(dy)

    show(f"{name}/forward", per_iteration(forward))
    show(f"{name}/forward+backward", per_iteration(forward_backward))


def conv32():
    """Conv2d(32, 32, 3, padding=1) on (16, 32, 16, 16)."""
    conv = nn.Conv2d(32, 32, 3, padding=1)
    x = torch.rand(16, 32, 16, 16) * 2 - 1
    dy = torch.rand(16, 32, 16, 16) * 2 - 1
    forward_and_backward("conv2d 32->32 3x3 pad 1, 16x16, batch 16", conv, x, dy)


def cnn():
    """The CNN of tests/cnn_fixture.rs, f32: SGD step and inference."""
    net = nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(4, 8, 3, padding=1),
        nn.GroupNorm(2, 8),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(8, 10),
    )
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    for batch in (1, 8, 64):
        x = torch.rand(batch, 1, 8, 8) * 2 - 1
        t = torch.randint(0, 10, (batch,))

        def step():
            opt.zero_grad()
            loss = F.cross_entropy(net(x), t)
            loss.backward()
            opt.step()

        def inference():
            with torch.no_grad():
                net(x)

        net.train()
        show(f"cnn/train step/{batch}", per_iteration(step))
        net.eval()
        show(f"cnn/inference/{batch}", per_iteration(inference))


if __name__ == "__main__":
    torch.set_num_threads(1)
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread, "
          f"mkldnn {torch.backends.mkldnn.is_available()}, "
          f"{torch.backends.cpu.get_cpu_capability()}")
    conv32()
    cnn()
