"""Which kind of host the harness's own tests run as, and what its bf16 capability is.

Some tests expect different things on a host with bf16 hardware (AMX or AVX512-BF16) and on
one without: which variants train, whether bf16 is proven or emulated.  They ask this module,
never ``/proc/cpuinfo`` directly, so that one machine can check both sides:

- ``BF16PERF_TEST_VIEW`` unset or ``host``: the suite sees this machine as it is.
- ``BF16PERF_TEST_VIEW=no-bf16`` (``make test-no-bf16``): a bf16 host is seen as an AVX-512
  host without bf16.  Every process the tests start inherits a described cpuinfo
  (``$BF16PERF_CPUINFO``: the Cascade Lake capture, ``avx512f`` without ``avx512_bf16``)
  and oneDNN capped at ``AVX512_CORE`` (``$ONEDNN_MAX_CPU_ISA``), so bf16 tests skip or run
  emulated, and fp32 and emulated bf16 run on the kernels such a host runs.

  The cap is AVX512_CORE rather than AVX2 on purpose: TensorFlow sends bf16 to oneDNN
  whenever CPUID shows AVX-512 (it does not read the cap), and under an AVX2 cap oneDNN has
  no bf16 convolution to create, so every emulated bf16 step would crash, which no real
  host without bf16 shows (``tests/test_perf_e2e.py`` proves that crash is refused).  Under
  AVX512_CORE oneDNN emulates bf16 on AVX-512, as it does on a Cascade Lake or Skylake-SP.
  On a host without AVX-512 the cap is above the hardware and changes nothing.
"""

from __future__ import annotations

import os
from collections.abc import MutableMapping
from pathlib import Path

from bf16perf.machine.cpu import DEFAULT_CPUINFO, Capability, read_cpuinfo, resolve_cpuinfo_path

__all__ = [
    "NO_BF16_CPUINFO",
    "NO_BF16_ISA",
    "VIEW_ENV",
    "ViewError",
    "apply_view",
    "described_capability",
    "hardware_capability",
    "header_line",
    "host_has_bf16",
]

VIEW_ENV = "BF16PERF_TEST_VIEW"
VIEWS = ("host", "no-bf16")
NO_BF16_CPUINFO = Path(__file__).parent / "data" / "cpuinfo" / "linux-centos7-cascadelake"
NO_BF16_ISA = "AVX512_CORE"
_BF16 = (Capability.AMX, Capability.AVX512_BF16)


class ViewError(ValueError):
    """``$BF16PERF_TEST_VIEW`` names no view."""


def view(environ: MutableMapping[str, str] | None = None) -> str:
    """The view the suite runs as (``host`` or ``no-bf16``)."""
    env = os.environ if environ is None else environ
    name = env.get(VIEW_ENV, "").strip() or "host"
    if name not in VIEWS:
        raise ViewError(
            f"${VIEW_ENV}={name!r} names no view: use one of {', '.join(VIEWS)} (unset means host)"
        )
    return name


def apply_view(environ: MutableMapping[str, str] | None = None) -> str:
    """Put the view's cpuinfo and oneDNN cap in ``environ`` (default: this process's, which
    every process the tests start inherits); return the view's name."""
    env = os.environ if environ is None else environ
    name = view(env)
    if name == "no-bf16":
        env["BF16PERF_CPUINFO"] = str(NO_BF16_CPUINFO)
        env["ONEDNN_MAX_CPU_ISA"] = NO_BF16_ISA
    return name


def described_capability() -> Capability:
    """The bf16 capability the harness sees: the cpuinfo it reads (``$BF16PERF_CPUINFO``
    under the no-bf16 view, else ``/proc/cpuinfo``)."""
    return read_cpuinfo(resolve_cpuinfo_path(None)).capability


def host_has_bf16() -> bool:
    """Does the harness see bf16 hardware here (AMX or AVX512-BF16)?"""
    return described_capability() in _BF16


def hardware_capability() -> Capability:
    """What this machine's own ``/proc/cpuinfo`` declares, whatever the view."""
    return read_cpuinfo(DEFAULT_CPUINFO).capability


def header_line() -> str:
    """One line for the test session's header: the CPU, its bf16 capability, the view."""
    cpu = read_cpuinfo(DEFAULT_CPUINFO)
    name = view()
    line = (
        f"bf16perf test host: {cpu.model_name or cpu.vendor} (family {cpu.family} model"
        f" {cpu.model}), bf16 capability {cpu.capability.value}; view {name}"
    )
    if name == "no-bf16":
        line += (
            f" (seen as {NO_BF16_CPUINFO.name}, capability {described_capability().value},"
            f" ONEDNN_MAX_CPU_ISA={NO_BF16_ISA})"
        )
    else:
        line += f" (bf16 branches {'run' if host_has_bf16() else 'skip or emulate'})"
    return line
