"""Activates the bf16perf session for the perf tests (header, machine, cluster, report)."""

import pytest

from bf16perf.plugin import activate


@pytest.hookimpl(tryfirst=True)  # before junitxml configures: the report holds junit.xml
def pytest_configure(config: pytest.Config) -> None:
    activate(config)
