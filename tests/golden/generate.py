#!/usr/bin/env python3
"""Prints the table of tests/golden.rs from the PyTorch reference cases in
tests/golden/*.json: a line per case and its float32 twin, with the names of
their two tests and the #[normalize(...)] arguments (but dtype) of the module
PyTorch ran.

The table in tests/golden.rs is kept by hand; after adding or changing
reference cases, print the lines and paste them into its `cases!` table:

    python3 tests/golden/generate.py

The test `every_reference_case_is_run_or_listed` fails while the table and
the JSON files disagree on the cases.
"""
import json
import re
import pathlib

HERE = pathlib.Path(__file__).resolve().parent


def rust_float(v):
    text = repr(float(v))
    return text if ("e" in text or "." in text) else text + ".0"


def dims_arg(values):
    return str(values[0]) if len(values) == 1 else "[" + ", ".join(map(str, values)) + "]"


def arguments(case):
    """The #[normalize(...)] arguments for the PyTorch module of a case, with
    every option PyTorch's constructor was given that differs from ours."""
    op = case["op"]
    args = [op]
    spatial = case["shape"][2:]
    if op in ("layer", "rms"):
        args.append(f"dims = {dims_arg(case['normalized_shape'])}")
    else:
        channels = case.get("num_features") or case.get("num_channels")
        args.append(f"dims = {channels}")
        if spatial:
            args.append(f"spatial = {dims_arg(spatial)}")
    if op == "group":
        args.append(f"groups = {case['num_groups']}")
    if op == "rms":
        if case["eps_arg"] is not None:
            args.append(f"eps = {rust_float(case['eps_arg'])}")
    else:
        args.append(f"eps = {rust_float(case['eps'])}")
    affine = case.get("affine", case.get("elementwise_affine"))
    default_affine = op != "instance"
    if affine != default_affine:
        args.append(f"affine = {str(affine).lower()}")
    if op == "layer" and affine and not case["bias"]:
        args.append("bias = false")
    if op in ("batch", "instance"):
        track = case["track_running_stats"]
        if track != (op == "batch"):
            args.append(f"track_running_stats = {str(track).lower()}")
        if track:
            m = case["momentum"]
            args.append("momentum = none" if m is None else f"momentum = {rust_float(m)}")
    args.append(f"dtype = {case['dtype']}")
    return ", ".join(args)


def test_name(case_name):
    """The test's name: golden::test_name in tests/common/golden.rs."""
    return re.sub("[^0-9a-zA-Z_]", "_", case_name).lower()


def main():
    for path in sorted(HERE.glob("*.json")):
        cases = json.loads(path.read_text())["cases"]
        by_name = {case["name"]: case for case in cases}
        for case in cases:
            if case["dtype"] != "f64":
                continue
            args = arguments(case).removesuffix(", dtype = f64")
            twin = by_name.get(case["name"].replace("_f64_", "_f32_"))
            if twin is None or arguments(twin) != args + ", dtype = f32":
                raise SystemExit(f"{case['name']} has no float32 twin: the table pairs them")
            print(f"    {test_name(case['name'])}, {test_name(twin['name'])}: ({args}),")
        for case in cases:
            if case["dtype"] != "f64" and case["name"].replace("_f32_", "_f64_") not in by_name:
                raise SystemExit(f"{case['name']} has no float64 twin: the table pairs them")


if __name__ == "__main__":
    main()
