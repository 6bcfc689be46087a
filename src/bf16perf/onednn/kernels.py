"""Proof of which oneDNN kernels ran, from oneDNN's own verbose output.

TensorFlow falls back silently: with oneDNN off, bf16 runs in slow generic kernels and no
error is raised.  This module owns the evidence.  :func:`parse_verbose` is a pure function
from ``ONEDNN_VERBOSE=1`` text to a typed :class:`KernelSummary`, and
:meth:`KernelSummary.verdict` turns it into a sentence with the evidence lines; running a
program to get that text (the probe, a proof step) is :mod:`bf16perf.onednn.capture`'s.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass, field

from bf16perf.onednn.marks import PHASE_MARK

__all__ = [
    "KernelSummary",
    "KernelVerdict",
    "Primitive",
    "ProbeError",
    "parse_verbose",
    "verbose_lines",
]

# An implementation name ends in the ISA it was built for: brg_conv_fwd:avx512_core_bf16,
# jit:avx512_core_amx, brg_matmul:avx10_1_512_amx, jit_uni:sve_512.  Generic ones (ref:any,
# gemm:jit) carry no ISA.
_ISA = re.compile(r"^(avx\w*|sse\w*|amx\w*|sve\w*|asimd\w*)$")
# Memory descriptors: "src:bf16::blocked:acdb::f0" (v3) or "src_bf16::blocked:abcd:f0" (v2).
_MD = re.compile(
    r"\b(src|wei|dst|bia|data|diff|diff_src|diff_wei|diff_dst|diff_bia|scale|shift)[:_](\w+?)[:\s]"
)
# ISAs whose kernels compute bf16 in hardware: AVX512-BF16, AMX, AVX2-VNNI-2, AVX10, and
# Arm's SVE/ASIMD (oneDNN names no separate bf16 ISA there).  A bf16 primitive on any other
# implementation (ref:any, gemm:ref, jit:avx512_core's bf16 emulation) is a fallback.
_BF16_HW_ISA = re.compile(r"bf16|amx|avx2_vnni_2|avx10|^sve|^asimd")
# TensorFlow's own words when it routes bf16 away from oneDNN.
_FALLBACK_NOTES = ("oneDNN supports DT_BFLOAT16 only", "Falling back to the default Eigen")


class ProbeError(RuntimeError):
    """The kernel probe subprocess could not run (TensorFlow missing, crash, timeout)."""


@dataclass(frozen=True)
class Primitive:
    """One executed oneDNN primitive.

    Attributes:
        kind: primitive kind (``convolution``, ``matmul``, ``batch_normalization``, ...).
        impl: implementation name (``brg_conv_fwd:avx512_core_bf16``).
        isa: the ISA in the implementation name, ``None`` for generic implementations.
        prop_kind: ``forward_training``, ``backward_data``, ... (``undef`` for matmul).
        dtypes: data type per memory argument (``{"src": "bf16", "wei": "bf16", ...}``).
        phase: the probe phase it ran in (``fp32``/``bf16``), ``""`` outside a probe.
        line: the verbose line itself, kept as evidence.
        time_ms: its execution time, oneDNN's last field (``None`` where not printed).
        problem: its problem descriptor (``mb2_ic3oc64_ih38oh16kh7sh2dh0ph0_iw38ow16...``,
            ``2048x2:2x10``), the field before the time; ``""`` where not printed.
    """

    kind: str
    impl: str
    isa: str | None
    prop_kind: str
    dtypes: tuple[tuple[str, str], ...]
    phase: str
    line: str
    time_ms: float | None = None
    problem: str = ""

    @property
    def in_bf16_hardware(self) -> bool:
        """Ran on an ISA that computes bf16 natively (not a generic or emulating kernel)."""
        return self.isa is not None and _BF16_HW_ISA.search(self.isa) is not None

    @property
    def is_bf16(self) -> bool:
        """Computes in bf16: the source or the weights are bf16."""
        d = dict(self.dtypes)
        return "bf16" in (d.get("src"), d.get("wei"), d.get("data"), d.get("diff_dst"))


@dataclass(frozen=True)
class KernelVerdict:
    """Whether bf16 kernels ran, in one sentence, with the lines that prove it."""

    bf16_ran: bool
    isa: str | None
    message: str
    evidence: tuple[str, ...] = field(default=())


@dataclass(frozen=True)
class KernelSummary:
    """Everything oneDNN said it executed.

    Attributes:
        primitives: executed primitives, in order.
        cpu_isa: the ISA oneDNN detected on the CPU (its ``info,cpu,isa`` line), if printed.
        version: oneDNN's version (``v3.7.3``), if printed.
        notes: TensorFlow's own fallback messages (``oneDNN supports DT_BFLOAT16 only on
            platforms with AVX-512``), kept as evidence.
    """

    primitives: tuple[Primitive, ...]
    cpu_isa: str | None
    version: str | None = None
    notes: tuple[str, ...] = ()

    def bf16_primitives(self, phase: str | None = None) -> list[Primitive]:
        """The primitives that computed in bf16 (optionally in one phase)."""
        return [p for p in self.primitives if p.is_bf16 and (phase is None or p.phase == phase)]

    def bf16_counts_by_kind(self) -> dict[str, int]:
        """How many bf16 primitives ran, per primitive kind."""
        return dict(Counter(p.kind for p in self.bf16_primitives()))

    def isas(self, phase: str | None = None) -> dict[str, int]:
        """Executed ISAs (from implementation names) with their primitive counts."""
        return dict(
            Counter(p.isa for p in self.primitives if p.isa and (phase is None or p.phase == phase))
        )

    def amx_primitives(self) -> list[Primitive]:
        """The primitives that ran on an AMX ISA (``avx512_core_amx``, ``avx10_1_512_amx``,
        ...), whatever their data type: what an ``ONEDNN_MAX_CPU_ISA`` cap below AMX must
        leave empty."""
        return [p for p in self.primitives if p.isa is not None and "amx" in p.isa]

    def verdict(self, kinds: tuple[str, ...] = ("convolution", "matmul")) -> KernelVerdict:
        """Did bf16 compute kernels (of ``kinds``) run, and on which ISA?"""
        typed = [p for p in self.bf16_primitives() if p.kind in kinds]
        bf16 = [p for p in typed if p.in_bf16_hardware]
        if not bf16 and typed:
            impls = ", ".join(sorted({p.impl for p in typed}))
            return KernelVerdict(
                bf16_ran=False,
                isa=None,
                message=(
                    f"bf16 fell back: bf16 {'/'.join(kinds)} ran only in generic or emulating"
                    f" oneDNN implementations ({impls}), not in bf16 hardware kernels"
                ),
                evidence=self.notes[:2] + tuple(p.line for p in typed[:2]),
            )
        if not bf16:
            total = len(self.primitives)
            seen = ", ".join(f"{k}x{n}" for k, n in sorted(self.isas().items())) or "none"
            return KernelVerdict(
                bf16_ran=False,
                isa=None,
                message=(
                    f"bf16 fell back: no bf16 oneDNN {'/'.join(kinds)} primitives"
                    f" ({total} oneDNN primitives seen; ISAs: {seen})"
                ),
                evidence=self.notes[:2] + tuple(p.line for p in self.primitives[:2]),
            )
        isa_counts = Counter(p.isa for p in bf16)
        isa = isa_counts.most_common(1)[0][0]
        counts = ", ".join(f"{k} {n}" for k, n in sorted(Counter(p.kind for p in bf16).items()))
        return KernelVerdict(
            bf16_ran=True,
            isa=isa,
            message=f"bf16 kernels ran on {isa} ({counts} bf16 primitives)",
            evidence=tuple(p.line for p in bf16[:3]),
        )

    def describe(self, precision: str) -> str:
        """One line about a run of ``precision``: the bf16 verdict, or what fp32 ran on."""
        if precision == "bf16":
            return self.verdict().message
        isas = ", ".join(f"{k} x{n}" for k, n in sorted(self.isas().items()))
        return (
            f"{precision}: {len(self.primitives)} oneDNN primitives"
            f" ({isas or 'generic implementations, no ISA in their names'})"
        )

    def to_dict(self, precision: str | None = None) -> dict[str, object]:
        """A JSON-ready summary (no evidence lines beyond the verdict's); ``message``
        describes a run of ``precision`` when given."""
        v = self.verdict()
        return {
            "onednn_version": self.version,
            "cpu_isa": self.cpu_isa,
            "bf16_ran": v.bf16_ran,
            "isa": v.isa,
            "message": self.describe(precision) if precision else v.message,
            "isas": self.isas(),
            "bf16_counts_by_kind": self.bf16_counts_by_kind(),
            "primitives": len(self.primitives),
            "evidence": list(v.evidence),
        }


def _parse_exec(fields: list[str], i: int, phase: str, line: str) -> Primitive | None:
    # After "exec": engine, kind, impl, prop_kind, memory descriptors, attrs, ...
    rest = fields[i + 1 :]
    if len(rest) < 5 or rest[0] != "cpu":
        return None
    kind, impl, prop_kind, mds = rest[1], rest[2], rest[3], rest[4]
    isa_token = impl.rsplit(":", 1)[-1]
    isa = isa_token if ":" in impl and _ISA.match(isa_token) else None
    dtypes = tuple((m.group(1), m.group(2)) for m in _MD.finditer(mds + " "))
    try:
        time_ms: float | None = float(fields[-1])
    except ValueError:
        time_ms = None
    if time_ms is not None and not (math.isfinite(time_ms) and time_ms >= 0):
        time_ms = None
    problem = fields[-2] if time_ms is not None and len(rest) >= 7 else ""
    return Primitive(kind, impl, isa, prop_kind, dtypes, phase, line, time_ms, problem)


def parse_verbose(text: str) -> KernelSummary:
    """Parse oneDNN verbose output (v2 and v3 formats, with or without timestamps).

    Lines that are not oneDNN's are ignored, except the probe's own ``BF16PERF_PHASE name``
    markers, which label the primitives that follow them.
    """
    primitives: list[Primitive] = []
    cpu_isa: str | None = None
    version: str | None = None
    notes: list[str] = []
    phase = ""
    for raw in text.splitlines():
        line = raw.strip()
        if any(marker in line for marker in _FALLBACK_NOTES):
            notes.append(line)
            continue
        if line.startswith(PHASE_MARK):
            phase = line[len(PHASE_MARK) :].strip()
            continue
        if not line.startswith(("onednn_verbose,", "dnnl_verbose,")):
            continue
        fields = line.split(",")
        if "exec" in fields[:5]:
            prim = _parse_exec(fields, fields.index("exec"), phase, line)
            if prim is not None:
                primitives.append(prim)
        elif "info" in fields[:4]:
            isa_match = re.search(r",isa:(.*)$", line)
            if isa_match and cpu_isa is None:
                cpu_isa = isa_match.group(1).strip()
            for f in fields:
                m = re.match(r"oneDNN (v[\d.]+)", f)
                if m and version is None:
                    version = m.group(1)
    return KernelSummary(tuple(primitives), cpu_isa, version, tuple(notes))


def verbose_lines(text: str) -> str:
    """The lines of ``text`` that :func:`parse_verbose` reads (oneDNN's, the phase markers,
    TensorFlow's fallback notes): what a proof sends back from another host."""
    keep = [
        line
        for line in text.splitlines()
        if line.lstrip().startswith(("onednn_verbose,", "dnnl_verbose,", PHASE_MARK))
        or any(marker in line for marker in _FALLBACK_NOTES)
    ]
    return "\n".join(keep)
