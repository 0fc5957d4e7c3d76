"""The MLPerf Tiny tables of BENCHMARKS.md, from one run of each side.

    python3 benches/mlperf_tiny_report.py TINY.json [PEAK_GMACS]

TINY.json is what `benches/mlperf_tiny.py --json TINY.json` wrote (ONNX
Runtime and PyTorch, one thread); constnorm's figures are criterion's medians
of the last `cargo bench --bench mlperf_tiny` (target/criterion). Prints the
model table, the per-convolution table and every issue-19 target with met or
not. PEAK_GMACS is the machine's single-core f32 FMA peak in multiply-adds per
ns (see BENCHMARKS.md, "Machine"), for the fraction-of-peak column.
"""

import json
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
CRITERION = ROOT / "target" / "criterion"


def median(group: str, bench: str, param: str | None = None) -> float:
    """Criterion's median estimate, in seconds."""
    path = CRITERION / group / bench
    if param is not None:
        path = path / param
    estimates = json.loads((path / "new" / "estimates.json").read_text())
    return estimates["median"]["point_estimate"] * 1e-9


def fmt(seconds: float) -> str:
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds * 1e6:.1f} us"


def ratio(ours: float, theirs: float) -> str:
    return f"{ours / theirs:.2f}x"


def main() -> None:
    tiny = json.loads(pathlib.Path(sys.argv[1]).read_text())
    peak = float(sys.argv[2]) if len(sys.argv) > 2 else None
    models = tiny["models"]
    targets = []

    print("| model | MMAC | constnorm b1 | ORT b1 | ratio | constnorm b32 | ORT b32 | ratio | "
          "constnorm step b32 | PyTorch step b32 | PyTorch / constnorm |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, m in models.items():
        group = f"mlperf_tiny_{name}"
        b1 = median(group, "eval", "1")
        b32 = median(group, "eval", "32")
        step = median(group, "train step", "32")
        print(f"| {name.upper()} | {m['macs'] / 1e6:.2f} | {fmt(b1)} | {fmt(m['ort_eval_b1'])} | "
              f"{ratio(b1, m['ort_eval_b1'])} | {fmt(b32)} | {fmt(m['ort_eval_b32'])} | "
              f"{ratio(b32, m['ort_eval_b32'])} | {fmt(step)} | {fmt(m['torch_train_b32'])} | "
              f"{m['torch_train_b32'] / step:.2f}x |")
        targets.append((f"{name} inference b1 <= 1.0x ORT", b1 / m["ort_eval_b1"] <= 1.0,
                        ratio(b1, m["ort_eval_b1"])))
        targets.append((f"{name} inference b32 <= 1.0x ORT", b32 / m["ort_eval_b32"] <= 1.0,
                        ratio(b32, m["ort_eval_b32"])))
        speedup = m["torch_train_b32"] / step
        targets.append((f"{name} step b32 >= 2x faster than PyTorch", speedup >= 2.0,
                        f"{speedup:.2f}x faster" if speedup >= 1 else f"{1 / speedup:.2f}x slower"))

    print()
    head = "| conv (count) | geometry | ORT b1 | constnorm b1 | ratio | PyTorch fwd+bwd b32 | constnorm fwd+bwd b32 | ratio |"
    sep = "|---|---|---:|---:|---:|---:|---:|---:|"
    if peak:
        head += " eval / train GMAC/s (share of peak) |"
        sep += "---:|"
    print(head)
    print(sep)
    group = "mlperf_tiny_convs (elem = multiply-add)"
    for c in tiny["convs"]:
        label = f"{c['model']}/{c['name']}"
        bench = f"{c['model']}_{c['name']} (x{c['count']})"
        b1 = median(group, bench, "eval b1")
        step = median(group, bench, "fwd+bwd b32")
        row = (f"| {c['model']}/{c['name']} ({c['count']}) | {c['geometry']} | {fmt(c['ort_eval_b1'])} | "
               f"{fmt(b1)} | {ratio(b1, c['ort_eval_b1'])} | {fmt(c['torch_fwd_bwd_b32'])} | "
               f"{fmt(step)} | {ratio(step, c['torch_fwd_bwd_b32'])} |")
        if peak:
            eval_rate = c["macs"] / b1 / 1e9
            train_rate = 3 * c["macs"] * 32 / step / 1e9
            row += (f" {eval_rate:.1f} ({eval_rate / peak:.0%}) / "
                    f"{train_rate:.1f} ({train_rate / peak:.0%}) |")
            dense = "k1x1" in c["geometry"] or "k3x3" in c["geometry"]
            depthwise = " g1 " not in c["geometry"]
            channels = int(c["geometry"].split("->")[0])
            if dense and not depthwise and channels >= 16:
                targets.append((f"{label} eval >= 1/2 peak", eval_rate >= peak / 2,
                                f"{eval_rate / peak:.0%}"))
                targets.append((f"{label} train >= 1/3 peak", train_rate >= peak / 3,
                                f"{train_rate / peak:.0%}"))
        print(row)

    print()
    print("| target | met | figure |")
    print("|---|---|---|")
    for what, met, figure in targets:
        print(f"| {what} | {'met' if met else '**not met**'} | {figure} |")


if __name__ == "__main__":
    main()
