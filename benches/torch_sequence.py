"""The workloads of benches/sequence.rs in PyTorch on CPU, one thread.

    /work/venv/bin/python benches/torch_sequence.py

Prints the mean time per iteration of each workload (the best of several
repeats of a timed loop, after a warm-up); BENCHMARKS.md sets them beside
criterion's figures for constnorm. A second process, so the machine's
state may differ slightly from the criterion run.
"""

import torch
from torch import nn

from torch_conv import per_iteration, show


def main():
    torch.set_num_threads(1)
    torch.manual_seed(0)
    print(f"PyTorch {torch.__version__}, threads {torch.get_num_threads()}")

    gru_cell, lstm_cell = nn.GRUCell(64, 64), nn.LSTMCell(64, 64)
    x1, h1, c1 = torch.randn(1, 64), torch.zeros(1, 64), torch.zeros(1, 64)
    with torch.no_grad():
        show("streaming GRUCell step, batch 1, 64 -> 64", per_iteration(lambda: gru_cell(x1, h1)))
        show("streaming LSTMCell step, batch 1, 64 -> 64", per_iteration(lambda: lstm_cell(x1, (h1, c1))))

    gru = nn.GRU(64, 64, batch_first=True)
    x = torch.randn(16, 32, 64, requires_grad=True)
    dy = torch.randn(16, 32, 64)
    with torch.no_grad():
        show("GRU 64 -> 64, S = 32, batch 16, forward", per_iteration(lambda: gru(x)))

    def gru_step():
        gru.zero_grad(set_to_none=False)
        x.grad = None
        gru(x)[0].backward(dy)

    show("GRU 64 -> 64, S = 32, batch 16, forward+backward", per_iteration(gru_step))

    block = nn.TransformerEncoderLayer(64, 4, 256, dropout=0.0, batch_first=True)
    block.train()  # the ordinary path (the fused fast path is eval + no_grad only)
    xe = torch.randn(8, 16, 64, requires_grad=True)
    dye = torch.randn(8, 16, 64)
    with torch.no_grad():
        show("encoder block d64 h4 ff256, S = 16, batch 8, forward", per_iteration(lambda: block(xe)))
    block.eval()
    with torch.no_grad():
        show(
            "encoder block, forward, eval + no_grad (PyTorch's fused fast path)",
            per_iteration(lambda: block(xe)),
        )
    block.train()

    def block_step():
        block.zero_grad(set_to_none=False)
        xe.grad = None
        block(xe).backward(dye)

    show("encoder block d64 h4 ff256, S = 16, batch 8, forward+backward", per_iteration(block_step))


if __name__ == "__main__":
    main()
