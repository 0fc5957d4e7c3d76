#!/usr/bin/env python3
"""Turns the criterion results of `cargo bench --bench norms` into the
markdown table of BENCHMARKS.md, with the ratios the speed targets are
stated in, and checks the targets.

    cargo bench --bench norms && python3 benches/report.py

Reads target/criterion/<group>/<function>/new/estimates.json (mean time).
"""
import json
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent / "target" / "criterion"
FUNCS = ["generated", "plain_loop", "const_generic", "ndarray", "copy"]
GROUPS = [
    ("layernorm_fwd", "1x3"), ("layernorm_fwd", "32x16"), ("layernorm_fwd", "64x64"),
    ("layernorm_fwd", "64x768"), ("layernorm_fwd", "256x4096"), ("layernorm_fwd", "4096x4096"),
    ("layernorm_fwd_bwd", "1x3"), ("layernorm_fwd_bwd", "32x16"), ("layernorm_fwd_bwd", "64x64"),
    ("layernorm_fwd_bwd", "64x768"), ("layernorm_fwd_bwd", "256x4096"), ("layernorm_fwd_bwd", "4096x4096"),
    ("batchnorm_train_fwd", "2x16"), ("batchnorm_train_fwd", "32x16"), ("batchnorm_train_fwd", "256x64"),
    ("batchnorm_train_fwd_bwd", "2x16"), ("batchnorm_train_fwd_bwd", "32x16"), ("batchnorm_train_fwd_bwd", "256x64"),
    ("batchnorm_eval", "32x16"),
    ("batchnorm2d_train_fwd", "8x16x16x16"),
    ("layernorm_fwd_f64", "64x768"), ("batchnorm_train_fwd_f64", "256x64"),
]


def mean_ns(group, size, func):
    path = ROOT / f"{group}_{size}" / func / "new" / "estimates.json"
    if not path.exists():
        return None
    return json.loads(path.read_text())["mean"]["point_estimate"]


def fmt(ns):
    if ns is None:
        return ""
    if ns < 1e3:
        return f"{ns:.1f} ns"
    if ns < 1e6:
        return f"{ns / 1e3:.2f} us"
    return f"{ns / 1e6:.2f} ms"


def main():
    times = {(g, s): {f: mean_ns(g, s, f) for f in FUNCS} for g, s in GROUPS}
    print("| workload (f32 unless noted) | generated | plain loop | const-generic | ndarray | copy | plain / generated | generated / const-generic | generated / copy |")
    print("|---|---|---|---|---|---|---|---|---|")
    for (g, s), t in times.items():
        gen = t["generated"]
        if gen is None:
            continue
        ratio = lambda a, b: f"{a / b:.2f}x" if a and b else ""
        print(f"| {g} {s} | {fmt(gen)} | {fmt(t['plain_loop'])} | {fmt(t['const_generic'])} | {fmt(t['ndarray'])} | "
              f"{fmt(t['copy'])} | {ratio(t['plain_loop'], gen)} | {ratio(gen, t['const_generic'])} | {ratio(gen, t['copy'])} |")

    print()
    print("Targets:")
    ok = True

    def check(label, passed, detail):
        nonlocal ok
        ok &= passed
        print(f"- [{'x' if passed else ' '}] {label}: {detail}")

    for (g, s), t in times.items():
        gen, const = t["generated"], t["const_generic"]
        if gen and const:
            check(f"{g} {s}: generated <= const-generic", gen <= const, f"{gen / const:.2f}x")
    for s in ["64x64", "64x768", "256x4096"]:
        for g in ["layernorm_fwd", "layernorm_fwd_bwd"]:
            t = times[(g, s)]
            if t["generated"] and t["plain_loop"]:
                r = t["plain_loop"] / t["generated"]
                check(f"{g} {s}: >= 4x faster than the plain loop", r >= 4, f"{r:.2f}x")
    for s, bound in [("256x4096", 1.3), ("4096x4096", 1.15)]:
        t = times[("layernorm_fwd", s)]
        if t["generated"] and t["copy"]:
            r = t["generated"] / t["copy"]
            check(f"layernorm_fwd {s} within {bound}x of the copy floor", r <= bound, f"{r:.2f}x")
    for s in ["1x3", "32x16", "64x64", "64x768", "256x4096", "4096x4096"]:
        f, fb = times[("layernorm_fwd", s)]["generated"], times[("layernorm_fwd_bwd", s)]["generated"]
        if f and fb:
            check(f"layernorm {s}: forward+backward <= 2.5x forward", fb <= 2.5 * f, f"{fb / f:.2f}x")
    for s in ["2x16", "32x16", "256x64"]:
        f, fb = times[("batchnorm_train_fwd", s)]["generated"], times[("batchnorm_train_fwd_bwd", s)]["generated"]
        if f and fb:
            check(f"batchnorm {s}: forward+backward <= 2.5x forward", fb <= 2.5 * f, f"{fb / f:.2f}x")
    print()
    print("all targets met" if ok else "NOT all targets met")
    return 0


if __name__ == "__main__":
    sys.exit(main())
