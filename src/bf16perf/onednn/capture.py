"""Programs run under ``ONEDNN_VERBOSE=1`` and what they printed, parsed
(:mod:`bf16perf.onednn.kernels`): any program's proof step, and the probe, a tiny fp32 and bf16
convolution + matmul in a fresh interpreter (:mod:`bf16perf.onednn.probe_process`)."""

from __future__ import annotations

import os
import subprocess
import sys

from bf16perf.machine.hygiene import guarded
from bf16perf.onednn.kernels import KernelSummary, ProbeError, parse_verbose, verbose_lines

__all__ = ["capture_verbose", "run_probe", "run_verbose"]


def capture_verbose(
    argv: list[str],
    *,
    what: str,
    env: dict[str, str] | None = None,
    timeout_s: float = 120.0,
    cwd: str | None = None,
    everything: bool = False,
    verbose: bool = True,
) -> str:
    """Run ``argv`` (in ``cwd``) with ``ONEDNN_VERBOSE=1``; return what it printed that
    :func:`parse_verbose` reads (``everything``: all it printed, stdout then stderr).
    ``verbose`` false: the same run with oneDNN's verbose output off (``ONEDNN_VERBOSE=0``),
    to time what the verbose timing costs.

    ``env`` overrides are applied on top of the current environment.  ``what`` names the
    program in errors (:class:`ProbeError`).
    """
    full_env = dict(os.environ)
    full_env.update(env or {})
    full_env["ONEDNN_VERBOSE"] = "1" if verbose else "0"
    full_env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        proc = subprocess.run(
            guarded(argv, full_env, cwd),  # never outlive a killed pytest
            env=full_env,
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
            cwd=cwd,
        )
    except subprocess.TimeoutExpired:
        raise ProbeError(f"{what} did not finish within {timeout_s:.0f} s") from None
    except OSError as exc:
        raise ProbeError(f"{what} could not start: {exc}") from None
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        raise ProbeError(f"{what} failed (exit {proc.returncode}): {' | '.join(tail)}")
    text = proc.stdout + "\n" + proc.stderr
    return text if everything else verbose_lines(text)


def run_verbose(
    argv: list[str],
    *,
    what: str,
    env: dict[str, str] | None = None,
    timeout_s: float = 120.0,
    cwd: str | None = None,
) -> KernelSummary:
    """:func:`capture_verbose`, parsed."""
    return parse_verbose(capture_verbose(argv, what=what, env=env, timeout_s=timeout_s, cwd=cwd))


def run_probe(
    env: dict[str, str] | None = None,
    timeout_s: float = 120.0,
    python: str = sys.executable,
) -> KernelSummary:
    """Run the tiny fp32 + bf16 probe in a fresh interpreter and parse its oneDNN output.

    ``env`` overrides are applied on top of the current environment (for example
    ``{"TF_ENABLE_ONEDNN_OPTS": "0"}`` to see the fallback).
    """
    return run_verbose(
        [python, "-m", "bf16perf.onednn.probe_process"],
        what="the oneDNN kernel probe",
        env=env,
        timeout_s=timeout_s,
    )
