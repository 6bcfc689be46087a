"""Shared helpers for the harness's own tests."""

from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"

pytest_plugins = ["pytester"]


@pytest.fixture
def data_dir() -> Path:
    """The directory of captured test data (cpuinfo files, oneDNN verbose output)."""
    return DATA
