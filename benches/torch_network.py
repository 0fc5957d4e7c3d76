"""The training steps of benches/network.rs in PyTorch on CPU, one thread.

    /work/venv/bin/python benches/torch_network.py

`Linear BatchNorm1d ReLU Linear LayerNorm ReLU Linear`, cross-entropy, SGD
with momentum 0.9 (zero_grad, forward in train mode, loss, backward, step),
at 4-16-16-3 batch 32 and 64-256-256-10 batch 64. Prints the mean time per
step (the best of several repeats of a timed loop, after a warm-up) in a
second process; BENCHMARKS.md sets it beside criterion's figures.
"""

import torch
from torch import nn

from torch_conv import per_iteration, show


def mlp(i, h, o):
    return nn.Sequential(
        nn.Linear(i, h), nn.BatchNorm1d(h), nn.ReLU(),
        nn.Linear(h, h), nn.LayerNorm(h), nn.ReLU(),
        nn.Linear(h, o),
    )


def main():
    torch.set_num_threads(1)
    torch.manual_seed(0)
    print(f"PyTorch {torch.__version__}, threads {torch.get_num_threads()}")
    for (i, h, o, b) in [(4, 16, 3, 32), (64, 256, 10, 64)]:
        net = mlp(i, h, o).train()
        opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
        x, t = torch.randn(b, i), torch.randint(0, o, (b,))

        def step():
            opt.zero_grad()
            nn.functional.cross_entropy(net(x), t).backward()
            opt.step()

        show(f"mlp {i}-{h}-{h}-{o} batch {b}, train step", per_iteration(step))


if __name__ == "__main__":
    main()
