"""conv2d cases B1-B6 and conv_transpose2d T1 (speed), M1-M2 (memory), from benchmarks/cases.json.

Each case is one forward + backward through the autograd op (every gradient, a fixed random
upstream gradient, float32), timed against three others in the same run (timing.py's protocol):

- PyTorch CPU, the same op;
- "GEMMs alone": only the three matrix products of im2col at whole-batch shapes, with
  preallocated operands (forward (F, K) @ (K, P), input gradient (K, F) @ (F, P), weight gradient
  (F, P) @ (P, K), K = C*kh*kw, P = N*OH*OW; for T1 the conv2d whose input gradient it is). No
  copy, col2im, transform or bias is in it: it is the floor of the im2col design on this BLAS;
- "GEMMs + copies": the GEMMs alone plus three contiguous copies of the column matrix's size in
  cache-sized chunks, the least memory traffic of an im2col design that does not keep the forward's
  columns (forward im2col, weight-gradient im2col, input-gradient col2im);
- for the cases Winograd can run, ours forced to Winograd and forced to plain im2col, to show what
  the measurement (kernels/conv.py's ALGORITHM = "benchmark") chose and what it gained.
- ours with the bias as a separate op (an add, summed in backward) instead of in the GEMMs;
- ours with the kernels' scratch allocated on every call instead of kept between calls
  (kernels/workspace.py), with the page faults per call of both;
- ours and the GEMMs alone with NumPy's BLAS held to one thread (threadpoolctl): how far the kernels
  are from their GEMMs when everything runs on one core, and so how much of the two-thread ratio
  comes from the copies, adds and transposes that NumPy runs on one core only.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_conv.py [--quick]
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

import numpy as np
from timing import Protocol, compare, geomean, load_cases, script_main, with_rounds

import tinygrad_conv as tc
import tinygrad_conv.functional as F
from tinygrad_conv.kernels import conv as K
from tinygrad_conv.kernels import winograd, workspace

Case = dict[str, Any]


def make_ours(case: Case, transposed: bool, bias_op: bool = False) -> tuple[Callable[[], None], tuple[np.ndarray, ...]]:
    """Our forward + backward of the case, and its arrays (x, w, b, upstream gradient). With
    ``bias_op`` the bias is not the conv's but a separate add, summed by the engine in backward (how
    the bias cost before it rode in the GEMMs: a pass over the output and one over its gradient)."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal(case["input"]).astype(np.float32)
    w = (rng.standard_normal(case["weight"]) * 0.1).astype(np.float32)
    out_c = case["weight"][1] if transposed else case["weight"][0]
    b = rng.standard_normal(out_c).astype(np.float32)
    op = F.conv_transpose2d if transposed else F.conv2d
    stride, padding = case["stride"], case["padding"]
    tx, tw, tb = (tc.Tensor(a, requires_grad=True) for a in (x, w, b))
    # (with the bias, as timed: the kernels keep one algorithm choice per shape and bias or none)
    y_shape = op(tc.Tensor(x), tc.Tensor(w), tc.Tensor(b), stride=stride, padding=padding).shape
    g = tc.Tensor(rng.standard_normal(y_shape).astype(np.float32))

    def ours() -> None:
        tx.grad = tw.grad = tb.grad = None
        if bias_op:
            (op(tx, tw, None, stride=stride, padding=padding) + tb.reshape(1, -1, 1, 1)).backward(g)
        else:
            op(tx, tw, tb, stride=stride, padding=padding).backward(g)

    return ours, (x, w, b, g.numpy())


def forced(fn: Callable[[], None], algorithm: str) -> Callable[[], None]:
    """``fn`` run with the conv kernels' algorithm choice forced."""

    def run() -> None:
        saved = K.ALGORITHM
        K.ALGORITHM = algorithm
        try:
            fn()
        finally:
            K.ALGORITHM = saved

    return run


def settle(*fns: Callable[[], None], quick: bool = False) -> None:
    """Call each of ``fns`` (ours) until the kernels' choices of variant are final: a shape's first
    call times the variants, and its first call K._RECHECK_AFTER seconds later times them again
    (kernels/conv.py), so that the timed blocks run what a longer-running process runs. ``quick``
    (a --quick smoke test, which measures nothing) makes the first call only, without the wait."""
    for fn in fns:
        fn()
    if quick:
        return
    time.sleep(K._RECHECK_AFTER)
    for fn in fns:
        fn()


def without_workspace(fn: Callable[[], None]) -> Callable[[], None]:
    """``fn`` with the kernels' scratch allocated on every call instead of kept (workspace.py)."""

    def run() -> None:
        saved = workspace.get_limit()
        workspace.set_limit(0)
        try:
            fn()
        finally:
            workspace.set_limit(saved)

    return run


def scratch_child(case: Case, transposed: bool, kept: bool, warmup: int, repeats: int) -> dict[str, float]:
    """One block of the case in this process, with the scratch kept or allocated per call: the min
    ms, and the minor page faults per timed call (fresh memory touched)."""
    ours, _ = make_ours(case, transposed)
    fn = ours if kept else without_workspace(ours)
    # (the calls that time the kernels' variants allocate as this side does)
    settle(fn, quick=Protocol(warmup, repeats).quick)
    for _ in range(warmup):
        fn()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    faults = (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / repeats
    return {"ms": min(times), "faults": faults}


def scratch_in_fresh_processes(case: Case, transposed: bool, protocol: Protocol) -> dict[str, dict[str, float]]:
    """The case with the scratch kept and allocated per call, each block in a fresh process that
    runs this case alone (a training script's situation: whether freed memory goes back to the
    system and is faulted in again depends on what the process allocated before, so the blocks
    cannot share one process), the sides alternating as timing.py's protocol does."""
    best: dict[str, dict[str, float]] = {}
    for _ in range(protocol.rounds):
        for side in ("kept", "per call"):
            args = [sys.executable, __file__, "--scratch-child", json.dumps(case), str(int(transposed)),
                    str(int(side == "kept")), str(protocol.warmup), str(protocol.repeats)]
            got = json.loads(subprocess.run(args, check=True, capture_output=True, text=True).stdout)
            if side not in best or got["ms"] < best[side]["ms"]:
                best[side] = got
    return best


def one_blas_thread(sides: dict[str, Callable[[], None]], protocol: Protocol) -> dict[str, float] | None:
    """``compare`` with NumPy's BLAS held to one thread (threadpoolctl), so that the GEMMs run on
    the one core that NumPy's copies use too; None without threadpoolctl."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return None
    with threadpool_limits(limits=1, user_api="blas"):
        return compare(sides, protocol)


def conv2d_geometry(case: Case, transposed: bool) -> tuple[int, int, int, int, int, int]:
    """(N, C, F, kh*kw, OH, OW) of the conv2d whose three products the case needs (for a
    transposed conv, the conv2d it is the input gradient of)."""
    n, c, h, w = case["input"]
    f, _, kh, kw = case["weight"]
    s, p = case["stride"], case["padding"]
    if transposed:  # that conv2d maps the transposed conv's output (C_out channels) back to x
        c, f = case["weight"][1], case["weight"][0]
        h, w = (h - 1) * s - 2 * p + kh, (w - 1) * s - 2 * p + kw
    return n, c, f, kh * kw, (h + 2 * p - kh) // s + 1, (w + 2 * p - kw) // s + 1


def gemms_alone(case: Case, transposed: bool) -> Callable[[], None]:
    n, c, f, taps, oh, ow = conv2d_geometry(case, transposed)
    k, p = c * taps, n * oh * ow
    rng = np.random.default_rng(1)

    def mats(a: int, b: int, m: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return (rng.standard_normal((a, b)).astype(np.float32), rng.standard_normal((b, m)).astype(np.float32),
                np.empty((a, m), np.float32))

    products = [mats(f, k, p), mats(k, f, p), mats(f, p, k)]

    def run() -> None:
        for a, b, out in products:
            np.matmul(a, b, out=out)

    return run


def column_passes(case: Case, transposed: bool) -> Callable[[], None]:
    """Contiguous copies of the column matrix's size, in the cache-sized chunks the kernels use,
    one for each pass the design needs over that much memory (a strided gather or scatter-add only
    costs more): three for a conv2d (the forward's im2col, the weight gradient's im2col and the
    input gradient's col2im), two for a transposed conv (its forward's col2im, and one im2col of the
    upstream gradient that its backward's two GEMMs share)."""
    n, c, _, taps, oh, ow = conv2d_geometry(case, transposed)
    total = c * taps * n * oh * ow
    chunk = min(total, K._CACHE_TARGET // 4)
    src = np.random.default_rng(2).standard_normal(chunk).astype(np.float32)
    dst = np.empty_like(src)
    sizes = [min(chunk, total - i) for i in range(0, total, chunk)] * (2 if transposed else 3)

    def run() -> None:
        for size in sizes:
            np.copyto(dst[:size], src[:size])

    return run


def gemms_and_copies(case: Case, transposed: bool) -> Callable[[], None]:
    gemms, copies = gemms_alone(case, transposed), column_passes(case, transposed)

    def run() -> None:
        gemms()
        copies()

    return run


def torch_side(torch: Any, arrays: tuple[np.ndarray, ...], case: Case, transposed: bool) -> Callable[[], None]:
    x, w, b, g = (torch.from_numpy(a) for a in arrays)
    x.requires_grad_(), w.requires_grad_(), b.requires_grad_()
    op = torch.nn.functional.conv_transpose2d if transposed else torch.nn.functional.conv2d

    def run() -> None:
        x.grad = w.grad = b.grad = None
        op(x, w, b, stride=case["stride"], padding=case["padding"]).backward(g)

    return run


#: The variants forced for a transposed conv, against im2col forced: its backward's shared columns.
TRICKS_TRANSPOSED = ("shared", "shared_batched")


def conv2d_tricks(case: Case) -> tuple[str, ...]:
    """The variants forced for a conv2d case, against im2col forced: Winograd where it can run, the
    row gathers ("gather_rows") for a stride-1 conv."""
    offered = {"winograd": winograd_can_run(case, False), "gather_rows": case["stride"] == 1}
    return tuple(name for name, applies in offered.items() if applies)


def winograd_can_run(case: Case, transposed: bool) -> bool:
    f, c, kh, kw = case["weight"]
    return not transposed and winograd.applies(np.float32, (kh, kw), (case["stride"],) * 2, (1, 1), 1, c, f)


#: Short names of the kernels' variants (kernels/conv.py, VARIANTS) in the algorithm column.
SHORT = {"im2col": "i", "batched": "b", "exact": "e", "per_sample": "s", "per_sample_exact": "se", "gather_rows": "g",
         "winograd": "W", "separate": "2", "shared": "sh", "shared_batched": "shb"}


def chosen_algorithm() -> str:
    """What the timing of the variants (first call, then again) chose for the forward, input and weight
    gradient since the choices were last cleared (each case clears them before it runs)."""
    kernels = {"conv2d": "fwd", "input_grad": "dx", "weight_grad": "dw", "conv2d_and_weight_grad": "dx+dw",
               "conv2d_input_and_weight_grads": "dx+dw"}
    found = sorted((list(kernels).index(key[0]), kernels[key[0]], SHORT.get(name, name))
                   for key, name in K._choices.items())
    return " ".join(f"{kernel}:{name}" for _, kernel, name in found) or "i"


def peak_multiple(case: Case, quick: bool = False) -> tuple[float, float]:
    """Peak traced memory of one forward + backward, and the column matrix, in MB."""
    ours, _ = make_ours(case, False)
    # caches, buffers and the final choices of variant outside the measurement: a call that times the
    # variants holds two variants' results and the largest scratch of any variant
    settle(ours, quick=quick)
    workspace.clear()  # but the scratch the kernels keep is counted: the call allocates it again
    n, c, _, taps, oh, ow = conv2d_geometry(case, False)
    cols = c * taps * n * oh * ow * 4 / 1e6
    tracemalloc.start()
    try:
        base, _ = tracemalloc.get_traced_memory()
        ours()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return (peak - base) / 1e6, cols


# The sides of a case take 1-30 ms a call, so its comparison can afford more rounds than the
# protocol's least (timing.with_rounds says why); the blocks in fresh processes and with one BLAS
# thread keep the protocol's.
ROUNDS = 4


def report(protocol: Protocol, torch: Any) -> dict[str, float]:
    """Print the conv and memory tables; return the figures the targets are judged on."""
    cases = load_cases()
    table = [(c, False) for c in cases["conv2d"]] + [(c, True) for c in cases["conv_transpose2d"]]
    main_protocol = with_rounds(protocol, ROUNDS)
    print(f"### conv2d B1-B6, conv_transpose2d T1: forward + backward, ms (min over {main_protocol.rounds} blocks "
          "per side)\n")
    print("| case | ours | PyTorch | GEMMs alone | GEMMs + copies | ours / PyTorch | ours / GEMMs "
          "| ours / (GEMMs + copies) | GEMMs / PyTorch | (GEMMs + copies) / PyTorch | algorithm |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    out: dict[str, float] = {}
    tricks = []
    scratch = []
    bias_rows = []
    one_thread = []
    for case, transposed in table:
        K._choices.clear()  # so that the algorithm column shows this case's choices only
        ours, arrays = make_ours(case, transposed)
        settle(ours, quick=protocol.quick)
        algo = chosen_algorithm()
        bias_op = None if transposed else make_ours(case, transposed, bias_op=True)[0]
        if bias_op is not None:  # (after the algorithm column is read: its shapes have choices of their own)
            settle(bias_op, quick=protocol.quick)
        sides = {"ours": ours, "gemms": gemms_alone(case, transposed),
                 "floor": gemms_and_copies(case, transposed)}
        if torch is not None:
            sides["torch"] = torch_side(torch, arrays, case, transposed)
        # the tricks that replace a whole algorithm, each forced against plain im2col forced
        case_tricks = TRICKS_TRANSPOSED if transposed else conv2d_tricks(case)
        for trick in case_tricks:
            sides[trick] = forced(ours, trick)
        if case_tricks:
            sides["im2col"] = forced(ours, "im2col")
        if bias_op is not None:
            sides["bias op"] = bias_op
        best = compare(sides, main_protocol)
        cid = case["id"]
        t = best.get("torch", float("nan"))
        out[f"{cid} ours/torch"] = best["ours"] / t
        out[f"{cid} ours/gemms"] = best["ours"] / best["gemms"]
        out[f"{cid} gemms/torch"] = best["gemms"] / t
        out[f"{cid} ours/floor"] = best["ours"] / best["floor"]
        out[f"{cid} floor/gemms"] = best["floor"] / best["gemms"]
        out[f"{cid} floor/torch"] = best["floor"] / t
        print(f"| {cid} | {best['ours']:.2f} | {t:.2f} | {best['gemms']:.2f} | {best['floor']:.2f} "
              f"| {best['ours'] / t:.2f} | {best['ours'] / best['gemms']:.2f} | {best['ours'] / best['floor']:.2f} "
              f"| {best['gemms'] / t:.2f} | {best['floor'] / t:.2f} | {algo} |")
        for trick in case_tricks:
            tricks.append((cid, trick, best[trick], best["im2col"], best["ours"], algo))
        scratch.append((cid, scratch_in_fresh_processes(case, transposed, protocol)))
        single = one_blas_thread({"ours": ours, "gemms": gemms_alone(case, transposed)}, protocol)
        if single is not None:
            one_thread.append((cid, single, best["ours"], best["gemms"]))
        if not transposed:
            bias_rows.append((cid, best["ours"], best["bias op"]))
    conv_ids = [c["id"] for c in cases["conv2d"]]
    all_ids = conv_ids + [c["id"] for c in cases["conv_transpose2d"]]
    out["floor geomean"] = geomean(out[f"{i} ours/gemms"] for i in all_ids)
    out["floor worst"] = max(out[f"{i} ours/gemms"] for i in all_ids)
    out["torch geomean"] = geomean(out[f"{i} ours/torch"] for i in conv_ids)
    out["gemms/torch geomean"] = geomean(out[f"{i} gemms/torch"] for i in conv_ids)
    out["copies floor/gemms geomean"] = geomean(out[f"{i} floor/gemms"] for i in all_ids)
    out["copies floor/torch geomean"] = geomean(out[f"{i} floor/torch"] for i in conv_ids)
    out["ours/copies floor geomean"] = geomean(out[f"{i} ours/floor"] for i in all_ids)
    out["T1"] = out["T1 ours/torch"]
    print(f"\nours / GEMMs alone: geo-mean over {', '.join(all_ids)} {out['floor geomean']:.2f} (target <= 1.6), "
          f"worst {out['floor worst']:.2f} (target <= 2.2); the GEMMs + copies floor is itself "
          f"{out['copies floor/gemms geomean']:.2f}x the GEMMs alone, and ours "
          f"{out['ours/copies floor geomean']:.2f}x it")
    print(f"ours / PyTorch: geo-mean over {', '.join(conv_ids)} {out['torch geomean']:.2f} (target <= 1.5; "
          f"the GEMMs alone take {out['gemms/torch geomean']:.2f}x PyTorch's whole time, GEMMs + copies "
          f"{out['copies floor/torch geomean']:.2f}x), "
          f"T1 {out['T1']:.2f} (target <= 1.8; GEMMs alone {out['T1 gemms/torch']:.2f})")
    print(f"algorithm: what the timing of the variants (on a shape's first call, again {K._RECHECK_AFTER:g} s later) "
          "chose for the forward / input gradient / weight gradient (kernels/conv.py, VARIANTS: "
          + ", ".join(f"{short} {name}" for name, short in SHORT.items())
          + "; only the kernels that had a choice are named)")
    if tricks:
        print("\n### Winograd, the row gathers and the shared columns against im2col, same run "
              "(forward + backward, ms, min)\n")
        print("| case | trick | trick forced | im2col forced | trick / im2col | measured choice | ours (measured) |")
        print("|---|---|---|---|---|---|---|")
        for cid, trick, tt, it, ot, algo in tricks:
            print(f"| {cid} | {trick} | {tt:.2f} | {it:.2f} | {tt / it:.2f} | {algo} | {ot:.2f} |")
        print("(winograd: kernels/winograd.py for the forward and both gradients; gather_rows: a stride-1 "
              "conv's three kernels gather whole input rows and shift them, not every tap, kernels/conv.py; "
              "shared, shared_batched: a transposed conv's dx and dw from one gather of the upstream gradient's "
              "columns, kernels/conv.py conv2d_and_weight_grad)")
    print("\n### The bias in the GEMMs against the bias as a separate op, same run (forward + backward, ms, min)\n")
    print("| case | in the GEMMs (ours) | separate op | in the GEMMs / separate |")
    print("|---|---|---|---|")
    for cid, in_gemm, separate in bias_rows:
        out[f"{cid} bias in gemm/separate"] = in_gemm / separate
        print(f"| {cid} | {in_gemm:.2f} | {separate:.2f} | {in_gemm / separate:.2f} |")
    print("(in the GEMMs: a weight column against a row of ones in the columns adds the bias in the forward GEMM, "
          "and sums dy into its gradient in the weight gradient's GEMM; kernels/conv.py)")
    print("\n### Scratch kept between calls (kernels/workspace.py) against allocated per call, each block in a "
          "fresh process running the case alone, same run (forward + backward, ms, min)\n")
    print("| case | kept | per call | kept / per call | page faults per call, kept | per call |")
    print("|---|---|---|---|---|---|")
    for cid, sides_ in scratch:
        kept, fresh = sides_["kept"], sides_["per call"]
        out[f"{cid} scratch kept/per call"] = kept["ms"] / fresh["ms"]
        print(f"| {cid} | {kept['ms']:.2f} | {fresh['ms']:.2f} | {kept['ms'] / fresh['ms']:.2f} "
              f"| {kept['faults']:.0f} | {fresh['faults']:.0f} |")
    print("(allocated per call, the scratch may go back to the system when a call frees it and be faulted in "
          "again, page by page, on the next call: whether it does depends on what the process allocated before. "
          "Each process makes its own choice of the kernels' variants, so a block's time also moves "
          "with that choice; the page faults do not)")
    if one_thread:
        print("\n### The same with one BLAS thread, and the floor of serial copies, same run (forward + backward, "
              "ms, min)\n")
        print("| case | ours, 1 thread | GEMMs alone, 1 thread | ours / GEMMs, 1 thread | ours - GEMMs alone, "
              "1 thread | GEMMs alone, 2 threads + that | that floor / GEMMs alone, 2 threads | ours, 2 threads / "
              "that floor |")
        print("|---|---|---|---|---|---|---|---|")
        for cid, single, ours2, gemms2 in one_thread:
            rest = max(single["ours"] - single["gemms"], 0.0)
            floor = gemms2 + rest
            out[f"{cid} ours/gemms 1 thread"] = single["ours"] / single["gemms"]
            out[f"{cid} serial floor/gemms"] = floor / gemms2
            print(f"| {cid} | {single['ours']:.2f} | {single['gemms']:.2f} | {single['ours'] / single['gemms']:.2f} "
                  f"| {rest:.2f} | {floor:.2f} | {floor / gemms2:.2f} | {ours2 / floor:.2f} |")
        ids = [cid for cid, *_ in one_thread]
        out["ours/gemms 1 thread geomean"] = geomean(out[f"{i} ours/gemms 1 thread"] for i in ids)
        out["serial floor/gemms geomean"] = geomean(out[f"{i} serial floor/gemms"] for i in ids)
        print(f"\nwith one BLAS thread ours / GEMMs alone: geo-mean {out['ours/gemms 1 thread geomean']:.2f}; with "
              "two, the GEMMs run on both cores but NumPy's copies, adds and transposes on one (split over threads "
              "they lost to OpenBLAS's waiting workers): the GEMMs alone at two threads plus what ours takes beyond "
              f"them at one is {out['serial floor/gemms geomean']:.2f}x the GEMMs alone (geo-mean)")
    print("\n### Memory M1-M2: peak traced memory of one conv2d forward + backward\n")
    print("| case | peak MB | column matrix MB | multiple (target <= 1.5) |")
    print("|---|---|---|---|")
    by_id = {c["id"]: c for c in cases["conv2d"]}
    for mem in cases["memory"]:
        peak, cols = peak_multiple(by_id[mem["case"]], protocol.quick)
        out[mem["id"]] = peak / cols
        print(f"| {mem['id']} ({mem['case']}) | {peak:.1f} | {cols:.1f} | {peak / cols:.2f} |")
    return out


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["--scratch-child"]:  # one block of scratch_in_fresh_processes
        case, transposed, kept, warmup, repeats = args[1:]
        print(json.dumps(scratch_child(json.loads(case), transposed == "1", kept == "1", int(warmup), int(repeats))))
        return
    script_main(report, __doc__.splitlines()[0], argv)


if __name__ == "__main__":
    main()
