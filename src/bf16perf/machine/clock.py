"""The clock a core runs at, as the OS exposes it: cpufreq's ``cpuinfo_max_freq`` (the
highest clock the core reaches, boost included) where the kernel has cpufreq, else
``/proc/cpuinfo``'s ``cpu MHz`` (in a VM, what the hypervisor reports: often the host's
nominal clock).  The hardware's peak (:mod:`bf16perf.onednn.hardware`) is set at it."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

__all__ = ["core_ghz"]


def core_ghz(
    cpus: Iterable[int] | None = None,
    sys_root: Path = Path("/sys/devices/system/cpu"),
    cpuinfo: Path = Path("/proc/cpuinfo"),
) -> tuple[float, str] | None:
    """The highest clock among ``cpus`` (every CPU: ``None``) in GHz, and where it was
    read; ``None`` where the OS exposes none."""
    wanted = set(cpus) if cpus is not None else None
    found = []
    for path in sorted(sys_root.glob("cpu[0-9]*/cpufreq/cpuinfo_max_freq")):
        cpu = int(path.parent.parent.name.removeprefix("cpu"))
        if wanted is None or cpu in wanted:
            try:
                found.append(int(path.read_text().strip()) / 1e6)  # kHz
            except (OSError, ValueError):
                continue
    if found:
        return max(found), "cpufreq cpuinfo_max_freq"
    try:
        text = cpuinfo.read_text()
    except OSError:
        return None
    cpu, clocks = -1, []
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "processor":
            cpu = int(value.strip()) if value.strip().isdigit() else cpu + 1
        elif key.strip() == "cpu MHz" and (wanted is None or cpu in wanted):
            try:
                clocks.append(float(value) / 1000)
            except ValueError:
                continue
    return (max(clocks), "/proc/cpuinfo cpu MHz") if clocks else None
