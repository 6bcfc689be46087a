"""Activates the bf16perf session for the perf tests (header, machine, cluster)."""

import pytest

from bf16perf.plugin import activate


def pytest_configure(config: pytest.Config) -> None:
    activate(config)
