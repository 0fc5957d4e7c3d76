"""The CNN half of `cargo run --release --example batch_vs_layer`, in PyTorch.

Same data (examples/data/digits.csv.gz, values / 16), same split (position k
holds digit k * 997 mod 1797; the first 1408 train, the other 389 test), same
network (conv 1->8 3x3 pad 1, norm, ReLU, max pool 2, conv 8->16 3x3 pad 1,
norm, ReLU, global average pool, linear 16->10) with PyTorch's default
initialization, same optimizer (SGD, momentum 0.9, lr 0.01 and 0.05), same
epochs, batch sizes and seeds. PyTorch's random streams differ from ours, so
the runs are the same experiment, not the same numbers. CPU, one thread.

    python3 -m venv /work/venv && /work/venv/bin/pip install torch numpy
    /work/venv/bin/python examples/batch_vs_layer_torch.py [BATCH ...]

With batch sizes as arguments it runs only those (PyTorch takes most of its
time in per-step overhead, so batch sizes 2 and 4 take the longest).
"""

import gzip
import pathlib
import sys
import time

import numpy as np
import torch
from torch import nn

C1, C2, GROUPS = 8, 16, 4
TRAIN, SPLIT_STRIDE = 1408, 997
EPOCHS = 8
SEEDS = [1, 2, 3]
LEARNING_RATE, HIGH_LEARNING_RATE, MOMENTUM = 0.01, 0.05, 0.9
BATCHES = [2, 4, 16, 64, 128]
NORMS = ["batch norm", "group norm", "layer norm", "none"]


def digits():
    path = pathlib.Path(__file__).parent / "data" / "digits.csv.gz"
    with gzip.open(path, "rt") as f:
        rows = np.loadtxt(f, delimiter=",", dtype=np.float32)
    assert rows.shape == (1797, 65)
    order = [k * SPLIT_STRIDE % len(rows) for k in range(len(rows))]
    rows = rows[order]
    x = torch.from_numpy(rows[:, :64] / 16.0).reshape(-1, 1, 8, 8)
    y = torch.from_numpy(rows[:, 64].astype(np.int64))
    return (x[:TRAIN], y[:TRAIN]), (x[TRAIN:], y[TRAIN:])


def norm(kind, channels, size):
    if kind == "batch norm":
        return [nn.BatchNorm2d(channels)]
    if kind == "group norm":
        return [nn.GroupNorm(GROUPS, channels)]
    if kind == "layer norm":
        return [nn.LayerNorm([channels, size, size])]
    return []


def cnn(kind):
    return nn.Sequential(
        nn.Conv2d(1, C1, 3, padding=1),
        *norm(kind, C1, 8),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(C1, C2, 3, padding=1),
        *norm(kind, C2, 4),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(C2, 10),
    )


def evaluate(net, x, y):
    net.eval()
    with torch.no_grad():
        logits = net(x)
        loss = nn.functional.cross_entropy(logits, y).item()
        accuracy = (logits.argmax(1) == y).float().mean().item()
    net.train()
    return accuracy, loss


def run(kind, batch, lr, seed, train, test):
    torch.manual_seed(seed)
    net = cnn(kind)
    sgd = torch.optim.SGD(net.parameters(), lr=lr, momentum=MOMENTUM)
    x, y = train
    steps, train_time, losses, accuracies, test_loss = 0, 0.0, [], [], 0.0
    for _ in range(EPOCHS):
        order = torch.randperm(TRAIN)
        total, batches = 0.0, 0
        start = time.perf_counter()
        for i in range(0, TRAIN - batch + 1, batch):
            idx = order[i : i + batch]
            loss = nn.functional.cross_entropy(net(x[idx]), y[idx])
            sgd.zero_grad()
            loss.backward()
            sgd.step()
            total += loss.item()
            batches += 1
        train_time += time.perf_counter() - start
        steps += batches
        losses.append(total / batches)
        accuracy, test_loss = evaluate(net, *test)
        accuracies.append(accuracy)
    return losses, accuracies, test_loss, steps, train_time


def mean_sd(values):
    values = np.asarray(values, dtype=np.float64)
    return values.mean(), values.std(ddof=1) if len(values) > 1 else 0.0


def main():
    torch.set_num_threads(1)
    batches = [int(b) for b in sys.argv[1:]] or BATCHES
    train, test = digits()
    print(
        f"Digits: {len(train[0])} training and {len(test[0])} test images; "
        f"SGD (momentum {MOMENTUM}) at lr {LEARNING_RATE} and "
        f"{HIGH_LEARNING_RATE}, {EPOCHS} epochs, seeds {SEEDS}; "
        f"PyTorch {torch.__version__}, 1 thread.\n"
    )
    print("| normalization | batch | lr | test accuracy (mean ± sd) | test loss | final train loss | steps/s |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    started = time.perf_counter()
    for lr in [LEARNING_RATE, HIGH_LEARNING_RATE]:
        for batch in batches:
            for kind in NORMS:
                runs = [run(kind, batch, lr, seed, train, test) for seed in SEEDS]
                acc, acc_sd = mean_sd([r[1][-1] * 100 for r in runs])
                test_loss, _ = mean_sd([r[2] for r in runs])
                loss, _ = mean_sd([r[0][-1] for r in runs])
                rate = sum(r[3] for r in runs) / sum(r[4] for r in runs)
                print(
                    f"| {kind} | {batch} | {lr:g} | {acc:.1f}% ± {acc_sd:.1f} "
                    f"| {test_loss:.3f} | {loss:.3f} | {rate:.0f} |",
                    flush=True,
                )
    print(f"\nTotal time: {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
