"""Shared helpers for the harness's own tests, and the host the suite runs as.

The session header names the CPU and its bf16 capability (so every CI log says which branch
of the host-dependent tests it exercised); ``$BF16PERF_TEST_VIEW`` selects the view
(:mod:`tests.hostview`), applied here before any test module is collected.
"""

import os
from pathlib import Path

import pytest

from tests.hostview import ViewError, apply_view, header_line

DATA = Path(__file__).parent / "data"

pytest_plugins = ["pytester"]

# Under pytest-xdist (make test's quick half) a worker's PYTEST_XDIST_* variables would
# reach the pytest sessions the tests start, where pytest-benchmark takes them for an xdist
# worker of its own and writes no --benchmark-json.  xdist itself reads its worker's input.
for _name in ("PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT", "PYTEST_XDIST_TESTRUNUID"):
    os.environ.pop(_name, None)


def pytest_configure(config: pytest.Config) -> None:
    try:
        apply_view()
    except ViewError as exc:
        raise pytest.UsageError(str(exc)) from None


def pytest_report_header(config: pytest.Config) -> str:
    return header_line()


@pytest.fixture
def data_dir() -> Path:
    """The directory of captured test data (cpuinfo files, oneDNN verbose output)."""
    return DATA
