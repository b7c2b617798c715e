"""Experiment: what the second timing of the conv kernels' variants changes.

``tinygrad_conv/kernels/conv.py`` times a shape's variants on its first call and again on its first
call ``_RECHECK_AFTER`` seconds later, keeping each variant's best over both timings. For each
benchmark case this clears the choices a few times, records the choices after the first timing and
after the second, and where they differ times the case's forward + backward (through the autograd
op, as ``bench_conv.py``) with each set of choices, in alternating blocks (timing.py's protocol).

Run: ``env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/experiments/choice_recheck.py
[repeats]`` (from the repository root; 4 repeats per case by default). Prints one row per case:
how often the second timing changed a choice, and the times of the first and the final choices
where it did.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/, for timing.py
from bench_conv import chosen_algorithm, make_ours  # noqa: E402
from timing import FULL, compare, import_torch, load_cases, machine_line  # noqa: E402

from tinygrad_conv.kernels import conv as K  # noqa: E402

Choices = dict[tuple[Any, ...], str]


def with_choices(fn: Callable[[], None], choices: Choices) -> Callable[[], None]:
    """``fn`` run with the kernels' table of choices set to ``choices`` (and no re-check pending)."""

    def run() -> None:
        saved, pending = dict(K._choices), dict(K._rechecks)
        K._choices.clear()
        K._choices.update(choices)
        K._rechecks.clear()
        try:
            fn()
        finally:
            K._choices.clear()
            K._choices.update(saved)
            K._rechecks.clear()
            K._rechecks.update(pending)

    return run


def describe(choices: Choices) -> str:
    saved = dict(K._choices)
    K._choices.clear()
    K._choices.update(choices)
    try:
        return chosen_algorithm()
    finally:
        K._choices.clear()
        K._choices.update(saved)


def main() -> None:
    repeats = int(sys.argv[1]) if len(sys.argv) > 1 else 4
    cases = load_cases()
    table = [(c, False) for c in cases["conv2d"]] + [(c, True) for c in cases["conv_transpose2d"]]
    print(machine_line(import_torch()))
    print(f"{repeats} first timings per case, each followed by the second {K._RECHECK_AFTER:g} s later\n")
    print("| case | changed by the second timing | first choice, ms | final choice, ms | final / first |")
    print("|---|---|---|---|---|")
    for case, transposed in table:
        ours, _ = make_ours(case, transposed)
        changed = []
        for _ in range(repeats):
            K._choices.clear()
            ours()
            first = dict(K._choices)
            time.sleep(K._RECHECK_AFTER)
            ours()
            final = dict(K._choices)
            if first != final:
                changed.append((first, final))
        cells = []
        for first, final in changed:
            best = compare({"first": with_choices(ours, first), "final": with_choices(ours, final)}, FULL)
            cells.append((f"{describe(first)}: {best['first']:.2f}", f"{describe(final)}: {best['final']:.2f}",
                          f"{best['final'] / best['first']:.2f}"))
        columns = [", ".join(cell[i] for cell in cells) or "-" for i in range(3)]
        print(f"| {case['id']} | {len(changed)} of {repeats} | {' | '.join(columns)} |", flush=True)


if __name__ == "__main__":
    main()
