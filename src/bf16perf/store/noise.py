"""The noise file, typed: ``baselines/<slug>/<key>.noise.json``, a machine's between-run
spread of log run figures and, after ``bf16perf calibrate``, its between-session spread.
:class:`NoiseFile` owns its parse (checked against ``noise.schema.json``), its validation
and its serialisation; every reader and the one writer go through it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bf16perf.stats.figures import Spread
from bf16perf.store.atomic import atomic_json, keep_previous
from bf16perf.store.baseline import NOISE_SCHEMA_VERSION, BaselineError, read_document
from bf16perf.store.formats import problem, versioned

__all__ = ["NoiseFile"]

AGAIN = "measure again with bf16perf calibrate"


@dataclass(frozen=True)
class NoiseFile:
    """One noise file's content.

    Attributes:
        workload: the workload key it was measured for.
        fingerprint: the machine's fingerprint (its ``id`` must match the reader's).
        figures: every A/A run figure.
        sigma, df: the between-run spread of log figures and its degrees of freedom.
        datetime: when it was written (``%Y%m%dT%H%M%SZ``).
        command: what measured it.
        sessions: the run figures by session, where a calibration measured sessions.
        session_sigma, session_df: the between-session spread, where measured.
    """

    workload: str
    fingerprint: dict[str, Any]
    figures: list[float]
    sigma: float
    df: int
    datetime: str
    command: str = ""
    sessions: list[list[float]] | None = None
    session_sigma: float | None = None
    session_df: int | None = None

    @property
    def runs(self) -> Spread:
        """The between-run spread, named for where it comes from."""
        return Spread(
            self.sigma,
            self.df,
            f"the machine's noise file ({self.df + 1} A/A runs, {self.datetime})",
        )

    def between_sessions(self, path: Path) -> Spread | None:
        """The between-session spread (``None``: no calibration measured one)."""
        if self.session_sigma is None or self.session_df is None:
            return None
        return Spread(
            self.session_sigma,
            self.session_df,
            f"this machine's calibration, {self.session_df + 1} A/A sessions ({path})",
        )

    @classmethod
    def read(cls, path: Path, fingerprint_id: str | None) -> NoiseFile:
        """Parse and check ``path``, measured on the machine ``fingerprint_id`` (``None``:
        any); raises :class:`~bf16perf.store.baseline.BaselineError` naming the file."""
        data = read_document(path)
        version = data.get("schema_version")
        if version != NOISE_SCHEMA_VERSION:
            raise BaselineError(
                f"noise file {path}: schema_version {version!r:.20} is not"
                f" {NOISE_SCHEMA_VERSION}; {AGAIN}"
            )
        wrong = problem("noise", data)
        if wrong:
            raise BaselineError(f"noise file {path}: {wrong}; {AGAIN}")
        noise = cls(
            workload=data["workload"],
            fingerprint=data["fingerprint"],
            figures=[float(x) for x in data["figures"]],
            sigma=float(data["sigma"]),
            df=int(data["df"]),
            datetime=data["datetime"],
            command=data.get("command", ""),
            sessions=data.get("sessions"),
            session_sigma=data.get("session_sigma"),
            session_df=data.get("session_df"),
        )
        saved_id = noise.fingerprint.get("id")
        if fingerprint_id is not None and saved_id != fingerprint_id:
            raise BaselineError(
                f"noise file {path} was measured on another machine (fingerprint {saved_id});"
                " measure this one with bf16perf calibrate"
            )
        return noise

    def to_dict(self) -> dict[str, Any]:
        """The stored document (versioned; the optional fields only where measured)."""
        doc: dict[str, Any] = {
            "workload": self.workload,
            "fingerprint": self.fingerprint,
            "figures": self.figures,
        }
        if self.sessions is not None:
            doc["sessions"] = self.sessions
        doc.update(sigma=self.sigma, df=self.df)
        if self.session_sigma is not None:
            doc.update(session_sigma=self.session_sigma, session_df=self.session_df)
        doc.update(command=self.command, datetime=self.datetime)
        return versioned("noise", doc)

    def write(self, path: Path) -> Path:
        """Replace ``path`` whole, the previous version kept beside it."""
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists():
            keep_previous(path, self.datetime)
        atomic_json(path, self.to_dict())
        return path

    @staticmethod
    def stamp() -> str:
        """Now, as a noise file's ``datetime``."""
        return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
