"""Parsers of option values: each raises ``argparse.ArgumentTypeError`` naming the bad value
and what would be right, so that a typo fails at the command line, before any cluster
starts."""

from __future__ import annotations

import argparse
from pathlib import Path

from bf16perf.machine.pinning import PinMode
from bf16perf.workloads.config import COLLECTIVES, PROFILES

__all__ = [
    "alpha",
    "collective",
    "env_assignment",
    "existing_dir",
    "fraction",
    "label",
    "master_url",
    "measured_steps",
    "non_negative_int",
    "pin_mode",
    "positive_float",
    "positive_int",
    "profile",
]


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None


def _whole(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None


def positive_int(text: str) -> int:
    value = _whole(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be 1 or more")
    return value


def positive_float(text: str) -> float:
    value = _number(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be greater than 0")
    return value


def fraction(text: str) -> float:
    value = _number(text)
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be a fraction in [0, 1), e.g. 0.05")
    return value


def non_negative_int(text: str) -> int:
    value = _whole(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be 0 or more")
    return value


def measured_steps(text: str) -> int:
    value = positive_int(text)
    if value < 3:
        raise argparse.ArgumentTypeError(
            f"{text!r} measured steps: a run's figure is the median of its steps, and fewer"
            " than 3 make it one step's noise; use 3 or more"
        )
    return value


def alpha(text: str) -> float:
    value = _number(text)
    if not 0 < value <= 0.1:
        raise argparse.ArgumentTypeError(
            f"{text!r} must be a false-alarm rate in (0, 0.1], e.g. 0.01"
        )
    return value


def env_assignment(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name or not name.replace("_", "a").isalnum() or name[0].isdigit():
        raise argparse.ArgumentTypeError(
            f"{text!r} is not NAME=VALUE with NAME an environment variable name,"
            " e.g. ONEDNN_MAX_CPU_ISA=AVX2"
        )
    return name, value


def profile(text: str) -> str:
    if text not in PROFILES:
        raise argparse.ArgumentTypeError(f"{text!r} is not one of {', '.join(PROFILES)}")
    return text


def existing_dir(text: str) -> Path:
    path = Path(text)
    if not path.is_dir():
        raise argparse.ArgumentTypeError(f"{text!r} is not a directory")
    return path


def pin_mode(text: str) -> PinMode:
    try:
        return PinMode(text)
    except ValueError:
        choices = ", ".join(m.value for m in PinMode)
        raise argparse.ArgumentTypeError(f"{text!r} is not one of {choices}") from None


def master_url(text: str) -> str:
    if text.startswith(("spark://", "k8s://", "local-cluster[")) or text == "yarn":
        return text
    raise argparse.ArgumentTypeError(
        f"{text!r} is not a Spark master URL: use spark://HOST:PORT, yarn, k8s://URL"
        " or local-cluster[N,CORES,MEM]"
    )


def label(text: str) -> tuple[str, str]:
    """``KEY=VALUE`` for the history line, e.g. ``commit=abc123``."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip() or not value.strip():
        raise argparse.ArgumentTypeError(f"{text!r} is not KEY=VALUE, e.g. commit=abc123")
    return key.strip(), value.strip()


def reference_name(text: str) -> str:
    """A kept reference stack's name (``bf16perf reference create NAME``)."""
    import re

    if not re.match(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$", text):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a reference name: letters, digits, '.', '_' or '-' (at most 64),"
            " as bf16perf reference list shows them"
        )
    return text


def collective(text: str) -> str:
    """A collective implementation of :data:`~bf16perf.workloads.config.COLLECTIVES`."""
    if text.lower() not in COLLECTIVES:
        raise argparse.ArgumentTypeError(
            f"{text!r} is no collective implementation; use one of {', '.join(COLLECTIVES)}"
        )
    return text.lower()
