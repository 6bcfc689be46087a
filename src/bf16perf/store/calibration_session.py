"""A calibration's kept session, typed: ``<state>/sessions/NNN.json``, one A/A session's
run figures, workload key, machine and what disturbed it, written when the session ends
(atomically: a killed session leaves none) and read back when a calibration resumes.
:class:`CalibrationSession` owns its parse, its schema check and its serialisation."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bf16perf.store.formats import loads, problem, versioned

__all__ = ["CalibrationSession", "read_session"]


@dataclass(frozen=True)
class CalibrationSession:
    """One A/A session: its run figures, workload key, machine and what disturbed it.

    With bf16 (``calibrate --bf16``): the bf16 run figures, every run's precision in
    training order (``order``) and the release gate's figures (``gate``)."""

    index: int
    figures: list[float]
    workload: str
    slug: str
    fingerprint: dict[str, Any]
    disturbed: str | None
    bf16: list[float] = field(default_factory=list)
    order: list[str] = field(default_factory=list)
    gate: dict[str, Any] | None = None
    started: str = ""

    def to_dict(self) -> dict[str, Any]:
        return versioned(
            "session",
            {
                "index": self.index,
                "figures": self.figures,
                "workload": self.workload,
                "slug": self.slug,
                "fingerprint": self.fingerprint,
                "disturbed": self.disturbed,
                "bf16": self.bf16,
                "order": self.order,
                "gate": self.gate,
                "started": self.started,
            },
        )

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> CalibrationSession:
        return cls(
            int(d["index"]),
            [float(x) for x in d["figures"]],
            str(d["workload"]),
            str(d["slug"]),
            dict(d["fingerprint"]),
            d["disturbed"],
            [float(x) for x in d.get("bf16", [])],
            [str(x) for x in d.get("order", [])],
            d.get("gate"),
            str(d.get("started", "")),
        )


def read_session(path: Path) -> CalibrationSession:
    """A kept session's file, checked against :mod:`bf16perf.store.formats`' session schema; a bad
    one raises :class:`RuntimeError` naming the file and the fix."""
    data: Any = None
    wrong: str | None
    if not path.is_file():  # a FIFO would block the read, a directory fail it
        wrong = "not a regular file"
    else:
        try:
            data = loads(path.read_text())
        except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:
            wrong = f"not readable JSON ({exc})"
        else:
            wrong = problem("session", data)
    if wrong:
        raise RuntimeError(
            f"calibration session {path}: {wrong}; delete it and calibrate again (that session"
            " reruns)"
        )
    return CalibrationSession.from_dict(data)
