"""The benchmark scripts keep working: their protocol, their cases and every table of
``benchmarks/run.py``, run on tiny cases with a one-call protocol. Nothing here asserts a time."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

import tinygrad_conv as tc

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "benchmarks"

# The ids and keys of benchmarks/cases.json, at sizes that run in a moment. B2 is a 3x3 stride-1
# layer with enough channels for Winograd, so the table of the tricks against im2col has Winograd's row
# besides T1's shared columns.
TINY = {
    "conv2d": [
        {"id": "B1", "input": [2, 1, 6, 6], "weight": [2, 1, 3, 3], "stride": 1, "padding": 0},
        {"id": "B2", "input": [2, 16, 4, 4], "weight": [16, 16, 3, 3], "stride": 1, "padding": 1},
        {"id": "B3", "input": [2, 3, 8, 8], "weight": [4, 3, 3, 3], "stride": 2, "padding": 1},
    ],
    "conv_transpose2d": [{"id": "T1", "input": [2, 4, 4, 4], "weight": [4, 2, 4, 4], "stride": 2, "padding": 1}],
    "max_pool2d": [{"id": "P1", "input": [2, 2, 4, 4], "kernel_size": 2, "stride": 2},
                   {"id": "P3", "input": [2, 2, 5, 5], "kernel_size": 3, "stride": 2, "padding": 1}],
    "relu": [{"id": "R1", "input": [2, 2, 4, 4]}],
    "memory": [{"id": "M1", "case": "B2"}, {"id": "M2", "case": "B1"}],
}


@pytest.fixture
def bench(monkeypatch):
    """The benchmark modules (benchmarks/ is not a package: its scripts import each other by name),
    with tiny cases and a protocol of one timed call per block."""
    monkeypatch.syspath_prepend(str(BENCH))
    import bench_conv
    import bench_overhead
    import bench_pool
    import bench_train_torch
    import run
    import timing

    for module in (bench_conv, bench_pool):
        monkeypatch.setattr(module, "load_cases", lambda: TINY)
    tiny = timing.Protocol(warmup=0, repeats=1, rounds=1)
    monkeypatch.setattr(run, "QUICK", tiny)
    monkeypatch.setattr(bench_overhead, "STEPS", 5)
    monkeypatch.setattr(bench_train_torch, "BATCHES", 2)
    return run, timing


def test_cases_file_holds_every_case_the_targets_name():
    cases = json.loads((BENCH / "cases.json").read_text(encoding="utf-8"))
    ids = {c["id"] for family in cases.values() if isinstance(family, list) for c in family}
    assert {"B1", "B2", "B3", "B4", "B5", "B6", "T1", "P1", "P2", "P3", "R1", "O1", "M1", "M2"} <= ids
    conv_ids = {c["id"] for c in cases["conv2d"]}
    assert all(m["case"] in conv_ids for m in cases["memory"])


def test_benchmarks_refer_to_nothing_outside_the_repository():
    for path in sorted(BENCH.rglob("*")):
        if path.suffix in (".py", ".md", ".json"):
            text = path.read_text(encoding="utf-8")
            assert not re.search(r"\.\./shared|/work/|/root/|/home/", text), path


def test_compare_runs_blocks_alternating_between_the_sides(bench):
    _, timing = bench
    order = []
    sides = {"a": lambda: order.append("a"), "b": lambda: order.append("b")}
    best = timing.compare(sides, timing.Protocol(warmup=2, repeats=3, rounds=2))
    assert order == ["a"] * 5 + ["b"] * 5 + ["a"] * 5 + ["b"] * 5
    assert set(best) == {"a", "b"} and all(t >= 0 for t in best.values())


def test_the_full_protocol_is_the_issue_s(bench):
    _, timing = bench
    assert (timing.FULL.warmup, timing.FULL.repeats, timing.FULL.rounds) == (2, 15, 2)
    assert not timing.FULL.quick and timing.QUICK.quick


def test_one_thread_each_sets_both_sides_back_even_after_an_error(bench):
    _, timing = bench

    class FakeTorch:
        threads = 2

        @classmethod
        def get_num_threads(cls):
            return cls.threads

        @classmethod
        def set_num_threads(cls, n):
            cls.threads = n

    before = tc.get_num_threads()
    seen = []
    with pytest.raises(RuntimeError, match="inside"):
        with timing.one_thread_each(FakeTorch):
            seen.append((tc.get_num_threads(), FakeTorch.threads))
            raise RuntimeError("inside")
    assert seen == [(1, 1)]
    assert tc.get_num_threads() == before and FakeTorch.threads == 2


def test_run_quick_prints_every_table_and_the_targets(bench, capsys):
    run, _ = bench
    results = run.main(["--quick"])
    out = capsys.readouterr().out
    assert out.startswith("machine: ")
    for heading in ("### conv2d", "### Memory M1-M2", "### One training epoch", "### O1", "### max_pool2d",
                    "### relu's kernel tricks", "### Targets"):
        assert heading in out
    assert "### Winograd, the row gathers and the shared columns against im2col" in out
    assert "| T1 | shared_batched |" in out and "| B2 | winograd |" in out and "| B2 | gather_rows |" in out
    assert "| B5 | gather_rows |" not in out  # stride 2: the row gathers do not apply
    assert "### The same with one BLAS thread" in out and "| T1 |" in out.split("### The same with one BLAS")[1]
    for key in ("M1", "M2"):  # memory is ours alone
        assert results[key] > 0
    if "torch" in out.split("\n", 1)[0] and "not installed" not in out.split("\n", 1)[0]:
        assert results["P1"] > 0 and results["R1"] > 0  # ratios to PyTorch: NaN without it
        assert results["R1 one thread each"] > 0 and results["R1 kernels/torch"] > 0
        assert "| R1, one thread each |" in out
        rows = [line for line in out.splitlines() if line.startswith("| 1. ") or line.startswith("| 6. ")]
        assert len(rows) == 2


def test_run_without_torch_prints_our_side(bench, monkeypatch, capsys):
    run, _ = bench
    monkeypatch.setattr(run, "import_torch", lambda: None)
    run.main(["--quick", "--only", "conv,pool,overhead"])
    out = capsys.readouterr().out
    assert "PyTorch not installed" in out
    assert "| B1 |" in out and "| P1 " in out and "| O1 |" in out


def test_run_refuses_an_unknown_section(bench):
    run, _ = bench
    with pytest.raises(SystemExit):
        run.main(["--only", "conv,nothing"])
