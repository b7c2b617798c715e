"""Every benchmark table of tinygrad_conv in one run, then the targets they are judged on.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/run.py [--quick] [--only conv,train]

The cases are benchmarks/cases.json; each comparison follows timing.py's protocol (blocks of 2
warm-up and 15 timed calls per side, alternating twice, min per side). Unsetting
OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE in the command lets OpenBLAS pick the kernel for this CPU
(some machines pin an older one, which slows a current NumPy); the machine line says which GEMM
kernel each side runs. ``--quick`` runs one short block per side: a smoke test that the scripts
work, not a measurement.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the sibling scripts, when imported as a module

import bench_conv  # noqa: E402
import bench_overhead  # noqa: E402
import bench_pool  # noqa: E402
import bench_train_torch  # noqa: E402
from timing import FULL, QUICK, import_torch, machine_line  # noqa: E402

SECTIONS = {"conv": bench_conv.report, "train": bench_train_torch.report, "overhead": bench_overhead.report,
            "pool": bench_pool.report}


def targets(r: dict[str, float]) -> list[tuple[str, str, bool]]:
    """(target, figures, met) for each of the six targets whose figures were measured."""
    rows = []

    def ok(value: float, limit: float) -> bool:
        return value <= limit

    if "floor geomean" in r:
        rows.append(("1. conv / GEMMs alone: geo-mean B1-B6, T1 <= 1.6, none > 2.2",
                     f"geo-mean {r['floor geomean']:.2f}, worst {r['floor worst']:.2f} (GEMMs + copies "
                     f"{r['copies floor/gemms geomean']:.2f})",
                     ok(r["floor geomean"], 1.6) and ok(r["floor worst"], 2.2)))
        rows.append(("2. conv / PyTorch: geo-mean B1-B6 <= 1.5, T1 <= 1.8",
                     f"geo-mean {r['torch geomean']:.2f} (GEMMs alone {r['gemms/torch geomean']:.2f}, GEMMs + "
                     f"copies {r['copies floor/torch geomean']:.2f}), "
                     f"T1 {r['T1']:.2f} (GEMMs alone {r['T1 gemms/torch']:.2f})",
                     ok(r["torch geomean"], 1.5) and ok(r["T1"], 1.8)))
    if "train default" in r:
        rows.append(("3. training epoch / PyTorch <= 1.5, one thread each and default threads",
                     f"one thread {r['train one thread each']:.2f}, default {r['train default']:.2f} "
                     f"(our GEMMs alone {r['train one thread each gemms/torch']:.2f} and "
                     f"{r['train default gemms/torch']:.2f})",
                     ok(r["train one thread each"], 1.5) and ok(r["train default"], 1.5)))
    if "O1" in r:
        rows.append(("4. per-op overhead O1 / PyTorch <= 1.0",
                     f"{r['O1']:.2f} (skeleton tape {r['O1 skeleton/torch']:.2f}, "
                     f"minimal tape {r['O1 minimal/torch']:.2f})", ok(r["O1"], 1.0)))
    if "pool geomean" in r:
        rows.append(("5. pool P1-P3 geo-mean <= 1.3, relu R1 <= 1.5",
                     f"P1-P3 {r['pool geomean']:.2f}, R1 {r['R1']:.2f} (one thread each "
                     f"{r['R1 one thread each']:.2f}; our two kernels alone {r['R1 kernels/torch']:.2f})",
                     ok(r["pool geomean"], 1.3) and ok(r["R1"], 1.5)))
    if "M1" in r:
        rows.append(("6. memory M1, M2 <= 1.5x the column matrix", f"M1 {r['M1']:.2f}, M2 {r['M2']:.2f}",
                     ok(r["M1"], 1.5) and ok(r["M2"], 1.5)))
    return rows


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke test: 1 block of 2 calls per side")
    parser.add_argument("--only", default=",".join(SECTIONS),
                        help=f"comma-separated sections to run (default all: {','.join(SECTIONS)})")
    args = parser.parse_args(argv)
    only = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = sorted(set(only) - set(SECTIONS))
    if unknown:
        parser.error(f"--only: unknown sections {unknown}; choose from {sorted(SECTIONS)}")
    protocol = QUICK if args.quick else FULL
    torch = import_torch()
    print(machine_line(torch))
    print(f"protocol: {protocol.describe()} (more blocks where a table's heading says so); ratios are "
          "ours / theirs, min over min\n")
    results: dict[str, float] = {}
    start = time.perf_counter()
    for name in only:
        results.update(SECTIONS[name](protocol, torch))
        print()
    print("### Targets\n")
    print("| target | this run | met |")
    print("|---|---|---|")
    for target, figures, met in targets(results):
        print(f"| {target} | {figures} | {'yes' if met else 'no'} |")
    print(f"\n{machine_line(torch)} (at the end; {time.perf_counter() - start:.0f} s)")
    return results


if __name__ == "__main__":
    main()
