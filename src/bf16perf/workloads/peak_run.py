"""The peak probe: the best GFLOP/s of one large matmul in a variant's data type, on a
worker's cores, under the run's stack and ISA cap, timed by oneDNN (:mod:`bf16perf.onednn.peak`
sets a profile's convolutions and matmuls against it).

One probe per data type, ISA cap, stack and core count, measured once per session (the
process) and kept for the rest of it: the machine, and so its fingerprint, does not change
within a session.  It runs in its own process (:mod:`bf16perf.onednn.peak_process`), before the
measured
runs, never beside them; its cost is kept with the peak.
"""

from __future__ import annotations

import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from bf16perf.machine.clock import core_ghz
from bf16perf.machine.cpu import DEFAULT_CPUINFO, read_cpuinfo
from bf16perf.onednn.capture import capture_verbose
from bf16perf.onednn.kernels import ProbeError, parse_verbose
from bf16perf.onednn.peak import Peak, peak_of
from bf16perf.workloads.config import Precision, TrainConfig
from bf16perf.workloads.stack import lone_env

__all__ = ["PEAK_CALLS", "PEAK_N", "measure_peak", "peak_or_why"]

#: The probe's matrices are PEAK_N x PEAK_N (17 GFLOP a call: 0.2-0.4 s in fp32 on one
#: AVX2 core, milliseconds on AMX), multiplied PEAK_CALLS times, the first a warm-up.
PEAK_N = 2048
PEAK_CALLS = 6

_SEEN: dict[tuple[object, ...], Peak] = {}


def measure_peak(config: TrainConfig, cores: int, timeout_s: float = 300.0) -> Peak:
    """The peak of ``config``'s data type on ``cores`` pinned CPUs (the session's copy
    where it was measured before); raises :class:`ProbeError` naming why not (the probe
    failed, or the framework ran its matmul outside oneDNN)."""
    dtype = "bf16" if config.precision is Precision.BF16 else "f32"
    key = (config.python, config.env, config.onednn_max_isa, dtype, cores)
    if key in _SEEN:
        return _SEEN[key]
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="bf16perf-peak-") as tmp:
        env, prefix = lone_env(config, Path(tmp), cores)
        text = capture_verbose(
            [*prefix, config.python or sys.executable, "-m", "bf16perf.onednn.peak_process", dtype,
             str(PEAK_N), str(PEAK_CALLS), str(max(cores, 1))],
            what=f"the {dtype} peak probe",
            env=env,
            timeout_s=timeout_s,
        )  # fmt: skip
    peak = peak_of(parse_verbose(text).primitives, dtype, cores, time.monotonic() - t0)
    if peak is None:
        raise ProbeError(
            f"the {dtype} peak probe's matmul printed no timed oneDNN {dtype} call (the"
            " framework ran it outside oneDNN, or in another data type)"
        )
    clock = core_ghz()  # the fastest core's: an upper bound, so no share passes 100%
    cpu = read_cpuinfo(DEFAULT_CPUINFO)
    zen4 = cpu.vendor == "AuthenticAMD" and cpu.family == "25" and "avx512f" in cpu.flags
    peak = replace(
        peak, ghz=clock[0] if clock else None, clock=clock[1] if clock else "", zen4=zen4
    )
    _SEEN[key] = peak
    return peak


def peak_or_why(config: TrainConfig, cores: int) -> dict[str, Any]:
    """The peak a profile keeps (:meth:`Peak.to_dict`), or ``{"why": ...}``: a failed peak
    probe costs the share of peak, never the run."""
    try:
        return measure_peak(config, cores).to_dict()
    except ProbeError as exc:
        return {"why": str(exc)}
