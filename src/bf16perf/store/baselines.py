"""The baseline store: ``baselines/<fingerprint-slug>/<workload-key>.json``.

One baseline per machine fingerprint x workload, holding the last K accepted sessions
(``--perf-save-baseline`` adds one); atomic writes; no change but by an explicit save,
which keeps the previous file beside it (``*.prev-<timestamp>.json``).  A corrupt file, of
an unknown schema version, with a run without figures, or saved for another machine or
workload raises :class:`~bf16perf.store.baseline.BaselineError` naming it, never touching it.
Beside a baseline, ``<workload-key>.noise.json`` keeps the machine's measured between-run
spread (``bf16perf calibrate``), which verdicts pool with their own runs, and, after a
calibration, its between-session spread (its previous version kept as well).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bf16perf.stats.figures import Spread, log_spread
from bf16perf.store.atomic import atomic_json, keep_previous
from bf16perf.store.baseline import (
    DEFAULT_SESSIONS,
    SCHEMA_VERSION,
    Baseline,
    BaselineError,
    BaselineRun,
    BaselineSession,
    add_session,
    read_document,
    upgrade,
)
from bf16perf.store.formats import versioned
from bf16perf.store.noise import NoiseFile

__all__ = ["BaselineStore", "StoreFile"]


def _runs(path: Path, benchmarks: list[dict[str, Any]], where: str) -> list[BaselineRun]:
    """The runs of one session's ``benchmarks`` entries (their figures were checked against
    the baseline schema by :func:`~bf16perf.store.baseline.upgrade`)."""
    runs = []
    for bench in benchmarks:
        info = bench["extra_info"]
        ips, losses = [float(x) for x in info["images_per_second"]], info["losses"]
        kernels = info.get("kernels") if isinstance(info.get("kernels"), dict) else None
        runs.append(BaselineRun(ips, [float(x) for x in losses], kernels))
    if not runs:
        raise BaselineError(f"baseline {path}: {where}no runs; save a new one")
    return runs


@dataclass(frozen=True)
class StoreFile:
    """One kept file of the store: ``<root>/<slug>/<key>.json`` (a baseline) or
    ``<root>/<slug>/<key>.noise.json`` (a noise file)."""

    path: Path
    slug: str
    key: str
    noise: bool

    @classmethod
    def at(cls, path: Path) -> StoreFile:
        noise = path.name.endswith(".noise.json")
        key = path.name.removesuffix(".noise.json" if noise else ".json")
        return cls(path, path.parent.name, key, noise)


class BaselineStore:
    """The ``baselines/`` directory."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path_for(self, slug: str, workload: str) -> Path:
        return self.root / slug / f"{workload}.json"

    def noise_path(self, slug: str, workload: str) -> Path:
        return self.root / slug / f"{workload}.noise.json"

    def _read(self, path: Path) -> dict[str, Any]:
        return read_document(path)

    def files(self, slug: str | None = None) -> list[StoreFile]:
        """The kept files of machine ``slug`` (``None``: of every machine), in path order;
        previous versions (``.prev-``) are never read."""
        pattern = f"{slug}/*.json" if slug is not None else "*/*.json"
        return [
            StoreFile.at(path)
            for path in sorted(self.root.glob(pattern))
            if ".prev-" not in path.name
        ]

    def machine_level(self) -> bool:
        """The root holds one machine's files instead of a folder per machine (a common
        mistake: the store is the directory above)."""
        return any(self.root.glob("*.json")) and not any(self.root.glob("*/*.json"))

    def _files(self, slug: str) -> list[tuple[str, bool]]:
        return [(f.key, f.noise) for f in self.files(slug)]

    def keys(self, slug: str) -> list[str]:
        """The workload keys this machine has a baseline for."""
        return [key for key, noise in self._files(slug) if not noise]

    def problems(self, slug: str, fingerprint_id: str) -> list[str]:
        """Why each of this machine's baseline and noise files would fail to load (checked
        when a session starts, so that a bad file costs no wait and no run)."""
        errors = []
        for key, noise in self._files(slug):
            try:
                if noise:
                    self.load_noise(slug, key, fingerprint_id)
                else:
                    self.load(slug, key, fingerprint_id)
            except BaselineError as exc:
                errors.append(str(exc))
        return errors

    def load(self, slug: str, workload: str, fingerprint_id: str | None = None) -> Baseline | None:
        """The baseline for this machine and workload; ``None`` when there is none.

        ``fingerprint_id``, when given, must match the file's: a file copied under another
        machine's directory is refused rather than compared against.
        """
        path = self.path_for(slug, workload)
        if not path.exists():
            return None
        data = upgrade(self._read(path), path)
        try:
            fingerprint = data["machine_info"]["bf16perf_fingerprint"]
            if not isinstance(fingerprint, dict):
                raise TypeError("machine_info.bf16perf_fingerprint is not an object")
            saved_for = data["workload"]
            sessions = [
                BaselineSession(
                    _runs(path, s["benchmarks"], f"session {i + 1}, "),
                    str(s["saved_at"]),
                    dict(s.get("metadata") or {}),
                )
                for i, s in enumerate(data["sessions"])
            ]
            runs = sessions[-1].runs if sessions else []
            saved_at = data["datetime"]
        except (KeyError, IndexError, TypeError, ValueError, AttributeError, OverflowError) as exc:
            if isinstance(exc, BaselineError):
                raise
            raise BaselineError(f"baseline {path}: missing or bad field {exc}") from None
        if not runs:
            raise BaselineError(f"baseline {path}: no runs; save a new one")
        if saved_for != workload:
            raise BaselineError(
                f"baseline {path} was saved for workload {saved_for!r}, not {workload!r}:"
                " it was renamed or copied; move it back or save a new one"
            )
        if fingerprint_id is not None and fingerprint.get("id") != fingerprint_id:
            raise BaselineError(
                f"baseline {path} was saved on machine {fingerprint.get('slug')!r} (fingerprint"
                f" {fingerprint.get('id')}), not this one ({slug}, {fingerprint_id}): a"
                " baseline from another machine says nothing about this one; save one here"
                " with --perf-save-baseline"
            )
        return Baseline(
            path=path,
            fingerprint=fingerprint,
            workload=saved_for,
            runs=runs,
            saved_at=saved_at,
            schema_version=int(data.get("upgraded_from", SCHEMA_VERSION)),
            sessions=sessions,
        )

    def save(
        self, slug: str, workload: str, document: dict[str, Any], keep: int = DEFAULT_SESSIONS
    ) -> tuple[Path, Path | None, int]:
        """Add this session (``document``) to the baseline, keeping the last ``keep``
        sessions; write atomically and keep the previous file beside it.  A previous file
        that cannot be read, or was saved for another machine, is kept and not added to.
        Returns ``(path, previous or None, sessions now held)``."""
        path = self.path_for(slug, workload)
        path.parent.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        head = versioned("baseline", {"workload": workload, "datetime": stamp})
        older: dict[str, Any] | None = None
        previous = None
        if path.exists():
            fingerprint_id = document["machine_info"]["bf16perf_fingerprint"].get("id")
            try:
                if self.load(slug, workload, fingerprint_id) is not None:
                    older = upgrade(self._read(path), path)
            except BaselineError:
                older = None  # kept as .prev below, never merged
            previous = keep_previous(path, stamp)
        doc = add_session(older, {**head, **document}, stamp, keep)
        atomic_json(path, doc)
        return path, previous, len(doc["sessions"])

    def save_noise(
        self,
        slug: str,
        workload: str,
        *,
        fingerprint: dict[str, Any],
        figures: Sequence[float],
        command: str,
    ) -> tuple[Path, Spread]:
        """Keep the between-run spread of ``figures`` (A/A runs of ``workload``)."""
        if len(figures) < 2:
            raise ValueError("a noise estimate needs at least two runs")
        spread = log_spread([figures], what=command)
        path = self._write_noise(
            slug, workload, fingerprint, {"figures": list(figures)}, spread, None, command
        )
        return path, spread

    def save_calibration(
        self,
        slug: str,
        workload: str,
        *,
        fingerprint: dict[str, Any],
        sessions: Sequence[Sequence[float]],
        spreads: tuple[Spread, Spread],
        command: str,
    ) -> Path:
        """Keep a calibration's two spreads (between runs within a session, between
        sessions) as the machine's noise file for ``workload``, replacing the old one."""
        figures = {
            "figures": [x for session in sessions for x in session],
            "sessions": [list(session) for session in sessions],
        }
        return self._write_noise(slug, workload, fingerprint, figures, *spreads, command)

    def _write_noise(
        self,
        slug: str,
        workload: str,
        fingerprint: dict[str, Any],
        figures: dict[str, Any],
        runs: Spread,
        sessions: Spread | None,
        command: str,
    ) -> Path:
        """The one writer of noise files (:class:`~bf16perf.store.noise.NoiseFile`): the
        run spread, and where a calibration measured one, the session spread."""
        noise = NoiseFile(
            workload=workload,
            fingerprint=fingerprint,
            figures=figures["figures"],
            sessions=figures.get("sessions"),
            sigma=runs.sigma,
            df=runs.df,
            session_sigma=sessions.sigma if sessions else None,
            session_df=sessions.df if sessions else None,
            command=command,
            datetime=NoiseFile.stamp(),
        )
        return noise.write(self.noise_path(slug, workload))

    def noise(self, slug: str, workload: str, fingerprint_id: str | None) -> NoiseFile | None:
        """The machine's noise file for ``workload``, read once (``None``: none kept)."""
        path = self.noise_path(slug, workload)
        return NoiseFile.read(path, fingerprint_id) if path.exists() else None

    def load_noise(self, slug: str, workload: str, fingerprint_id: str | None) -> Spread | None:
        """The machine's saved between-run spread for ``workload``, or ``None``."""
        path = self.noise_path(slug, workload)
        return NoiseFile.read(path, fingerprint_id).runs if path.exists() else None

    def load_sessions(self, slug: str, workload: str, fingerprint_id: str | None) -> Spread | None:
        """The machine's measured between-session spread for ``workload`` (the noise file's
        optional ``session_sigma`` and ``session_df``, from A/A sessions each on a fresh
        cluster), or ``None`` where nothing measured it."""
        path = self.noise_path(slug, workload)
        if not path.exists():
            return None
        return NoiseFile.read(path, fingerprint_id).between_sessions(path)
