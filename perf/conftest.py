"""Activates the bf16perf session for the perf tests (header, machine, cluster, report)."""

import pytest

from bf16perf.plugin.hooks import activate
from fixtures.machine import parametrize_workloads


@pytest.hookimpl(tryfirst=True)  # before junitxml configures: the report holds junit.xml
def pytest_configure(config: pytest.Config) -> None:
    activate(config)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """One set of training tests per ``--perf-workload``."""
    parametrize_workloads(metafunc)
