"""Where a session's time went, phase by phase: the kernel probe, the cluster's bring-up,
each variant's proof and lone-step profile, each variant's runs, and the report; what is
left is pytest, the imports and the driver.  Printed at the end of a session and kept in
its report (``session.phases_s``), so that a budget for a host is read from measured
phases, not guessed."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

__all__ = ["Phases"]


@dataclass
class Phases:
    """Seconds spent per phase, and how many times each was entered.

    A phase's name is its kind and, for the per-variant ones, the variant:
    ``kernel probe``, ``bring-up``, ``proof fp32``, ``runs fp32``, ``report``."""

    spent: dict[str, float] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)

    def add(self, name: str, seconds: float) -> None:
        self.spent[name] = self.spent.get(name, 0.0) + seconds
        self.counts[name] = self.counts.get(name, 0) + 1

    @contextmanager
    def timed(self, name: str) -> Iterator[None]:
        """Time the block as one more entry of ``name`` (also when it raises)."""
        t0 = time.monotonic()
        try:
            yield
        finally:
            self.add(name, time.monotonic() - t0)

    def to_dict(self) -> dict[str, float]:
        """Seconds by phase, rounded to a tenth (the report's ``session.phases_s``)."""
        return {name: round(s, 1) for name, s in self.spent.items()}

    def _group(self, kind: str, title: str) -> str | None:
        """The phases of ``kind`` (``proof``, ``runs``) together, then each variant's."""
        names = [n for n in self.spent if n.startswith(f"{kind} ")]
        if not names:
            return None
        each = []
        for name in names:
            seconds, count = self.spent[name], self.counts[name]
            label = name.removeprefix(f"{kind} ")
            per = f"{count} x {seconds / count:.1f} s" if count > 1 else f"{seconds:.1f} s"
            each.append(f"{label} {per}")
        total = sum(self.spent[n] for n in names)
        return f"{title} {total:.1f} s ({', '.join(each)})"

    def lines(self, total_s: float) -> list[str]:
        """One line: each phase's time, in the order they happen, and the rest."""
        if not self.spent:
            return []
        shown = [f"{name} {self.spent[name]:.1f} s" for name in ("kernel probe", "bring-up")
                 if name in self.spent]  # fmt: skip
        groups = (self._group("proof", "proofs and profiles"), self._group("runs", "runs"))
        shown += [g for g in groups if g]
        if "report" in self.spent:
            shown.append(f"report {self.spent['report']:.1f} s")
        rest = total_s - sum(self.spent.values())
        shown.append(f"the rest {rest:.1f} s (pytest, imports, the driver, judging)")
        return [f"bf16perf phases: {'; '.join(shown)}"]
