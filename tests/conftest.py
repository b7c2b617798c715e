"""Shared pytest hooks and fixtures.

The ``torch`` fixture gives the PyTorch parity tests their oracle and skips just those tests where
PyTorch is not installed, so the tests beside them that need no PyTorch still run.

The registry test (tests/test_registry_ops.py) runs ``check_op`` once per registered op; the
summary hook below prints how many ops it checked, so the count shows in every test run's output
(with or without ``-s``, with ``-q``).
"""

from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture(scope="session")
def torch() -> Any:
    """PyTorch, the oracle; the test that asks for it skips where PyTorch is not installed.

    Session-scoped so hypothesis tests may use it (it holds no per-test state). One intra-op thread:
    the tensors are tiny, and the machines running the suite are small and shared.
    """
    torch = pytest.importorskip("torch")
    torch.set_num_threads(1)
    return torch


REGISTRY_TEST = "test_registry_ops.py::test_registered_op_passes_check_op["


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: Any) -> None:
    reports = [r for key in ("passed", "failed") for r in terminalreporter.stats.get(key, [])
               if getattr(r, "when", "") == "call" and REGISTRY_TEST in r.nodeid]
    if not reports:
        return
    failed = [r for r in reports if r.failed]
    checks = sum(int(dict(r.user_properties).get("op_checks", 0)) for r in reports)
    terminalreporter.write_sep("-", "check_op over the op registry")
    line = (f"check_op: {len(reports)} registered ops checked, {len(reports) - len(failed)} passed, "
            f"{len(failed)} failed ({checks} checks)")
    if failed:
        names = [r.nodeid.split("[", 1)[1].rstrip("]") for r in failed]
        line += ": " + ", ".join(names)
    terminalreporter.write_line(line)
