"""`cargo run --release --example sequence`, in PyTorch.

Same data (examples/data/JapaneseVowels_eq_*.ts.gz, each channel
standardized with the training set's mean and deviation), same models (a GRU
of 32 units, then Linear(32, 9) on the last hidden state; with no
normalization, with layer norm inside the cell (LN-GRU, the formulas of
tests/golden_layers/README.md), with LayerNorm(32) on the last state, or with
BatchNorm1d(32) at every time step, statistics over batch and time), the
same optimizer (Adam, lr 5e-3), epochs, batch sizes and seeds; batches drop
the remainder of each shuffled epoch, as ours do. PyTorch's random streams
differ from ours, so the runs are the same experiment, not the same numbers.
CPU, one thread. It also times one streaming step of nn.GRUCell at batch
size 1 (the per-step latency a real-time user of PyTorch sees).

    python3 -m venv /work/venv && /work/venv/bin/pip install torch numpy
    /work/venv/bin/python examples/sequence_torch.py [BATCH ...]

With batch sizes as arguments it runs only those (batch size 1 takes by far
the longest: PyTorch's per-step overhead).
"""

import gzip
import pathlib
import sys
import time

import numpy as np
import torch
from torch import nn

CHANNELS, STEPS, CLASSES, HIDDEN = 12, 25, 9, 32
EPOCHS = 25
SEEDS = [1, 2, 3]
BATCHES = [1, 4, 16, 64]
LEARNING_RATE = 5e-3
MODELS = ["none", "layer norm in the cell", "layer norm on outputs", "batch norm per step"]


def read_ts(name):
    path = pathlib.Path(__file__).parent / "data" / name
    text = gzip.open(path, "rt").read()
    xs, ys = [], []
    for line in text.split("@data")[1].strip().splitlines():
        *channels, label = line.strip().split(":")
        xs.append([[float(v) for v in c.split(",")] for c in channels])
        ys.append(int(label) - 1)
    x = torch.tensor(xs, dtype=torch.float32).transpose(1, 2)  # (N, steps, channels)
    return x, torch.tensor(ys)


def japanese_vowels():
    (xtr, ytr), (xte, yte) = (read_ts(f"JapaneseVowels_eq_{s}.ts.gz") for s in ["TRAIN", "TEST"])
    flat = xtr.reshape(-1, CHANNELS).double()
    mean, sd = flat.mean(0), flat.std(0, unbiased=False)
    norm = lambda x: ((x.double() - mean) / sd).float()
    return (norm(xtr), ytr), (norm(xte), yte)


class LnGru(nn.Module):
    """The LN-GRU of tests/golden_layers/README.md, one step at a time."""

    def __init__(self, inputs, hidden):
        super().__init__()
        k = hidden ** -0.5
        self.weight_ih = nn.Parameter(torch.empty(3 * hidden, inputs).uniform_(-k, k))
        self.weight_hh = nn.Parameter(torch.empty(3 * hidden, hidden).uniform_(-k, k))
        self.bias = nn.Parameter(torch.zeros(3 * hidden))
        self.ln_ih, self.ln_hh = nn.LayerNorm(2 * hidden), nn.LayerNorm(2 * hidden)
        self.ln_ih_n, self.ln_hh_n = nn.LayerNorm(hidden), nn.LayerNorm(hidden)
        self.hidden = hidden

    def forward(self, x):
        h = x.new_zeros(x.shape[0], self.hidden)
        outputs, H = [], self.hidden
        for t in range(x.shape[1]):
            a, b = x[:, t] @ self.weight_ih.T, h @ self.weight_hh.T
            rz = torch.sigmoid(self.ln_ih(a[:, : 2 * H]) + self.ln_hh(b[:, : 2 * H]) + self.bias[: 2 * H])
            r, z = rz[:, :H], rz[:, H:]
            n = torch.tanh(self.ln_ih_n(a[:, 2 * H :]) + r * self.ln_hh_n(b[:, 2 * H :]) + self.bias[2 * H :])
            h = (1 - z) * n + z * h
            outputs.append(h)
        return torch.stack(outputs, 1)


class Model(nn.Module):
    def __init__(self, kind):
        super().__init__()
        self.kind = kind
        if kind == "layer norm in the cell":
            self.gru = LnGru(CHANNELS, HIDDEN)
        else:
            self.gru = nn.GRU(CHANNELS, HIDDEN, batch_first=True)
        self.ln = nn.LayerNorm(HIDDEN) if kind == "layer norm on outputs" else None
        self.bn = nn.BatchNorm1d(HIDDEN) if kind == "batch norm per step" else None
        self.fc = nn.Linear(HIDDEN, CLASSES)

    def forward(self, x):
        out = self.gru(x)
        out = out[0] if isinstance(out, tuple) else out
        if self.bn is not None:
            n, s, h = out.shape
            out = self.bn(out.reshape(n * s, h)).reshape(n, s, h)
        last = out[:, -1]
        if self.ln is not None:
            last = self.ln(last)
        return self.fc(last)


def run(kind, batch, seed, train, test):
    torch.manual_seed(seed)
    model = Model(kind)
    opt = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE)
    x, y = train
    steps, train_time, loss = 0, 0.0, 0.0
    for _ in range(EPOCHS):
        order = torch.randperm(len(x))
        model.train()
        start = time.perf_counter()
        total, batches = 0.0, 0
        for i in range(0, len(x) - batch + 1, batch):
            idx = order[i : i + batch]
            opt.zero_grad()
            loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
            loss.backward()
            opt.step()
            total, batches = total + loss.item(), batches + 1
        train_time += time.perf_counter() - start
        steps += batches
    model.eval()
    with torch.no_grad():
        logits = model(test[0])
        acc = (logits.argmax(1) == test[1]).float().mean().item()
        test_loss = nn.functional.cross_entropy(logits, test[1]).item()
    return acc, test_loss, total / batches, steps / train_time


def streaming_step_us():
    cell = nn.GRUCell(CHANNELS, HIDDEN)
    x, h = torch.randn(1, CHANNELS), torch.zeros(1, HIDDEN)
    with torch.no_grad():
        for _ in range(1000):
            h = cell(x, h)
        start = time.perf_counter()
        for _ in range(20000):
            h = cell(x, h)
    return (time.perf_counter() - start) / 20000 * 1e6


def main():
    torch.set_num_threads(1)
    batches = [int(b) for b in sys.argv[1:]] or BATCHES
    train, test = japanese_vowels()
    print(f"PyTorch {torch.__version__}, one thread; JapaneseVowels, {len(train[0])} train / {len(test[0])} test")
    print(f"streaming nn.GRUCell step at batch size 1: {streaming_step_us():.1f} µs")
    print("| normalization | batch | test accuracy (mean ± sd) | test loss | final train loss | steps/s |")
    print("|---|---:|---:|---:|---:|---:|")
    for batch in batches:
        for kind in MODELS:
            runs = np.array([run(kind, batch, seed, train, test) for seed in SEEDS])
            acc, sd = runs[:, 0].mean() * 100, runs[:, 0].std(ddof=1) * 100
            print(
                f"| {kind} | {batch} | {acc:.1f}% ± {sd:.1f} | {runs[:, 1].mean():.3f} "
                f"| {runs[:, 2].mean():.3f} | {runs[:, 3].mean():.0f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
