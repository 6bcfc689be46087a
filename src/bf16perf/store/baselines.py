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
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bf16perf.stats.figures import Spread, log_spread
from bf16perf.store.atomic import atomic_json, keep_previous
from bf16perf.store.baseline import (
    DEFAULT_SESSIONS,
    NOISE_SCHEMA_VERSION,
    SCHEMA_VERSION,
    Baseline,
    BaselineError,
    BaselineRun,
    BaselineSession,
    add_session,
    upgrade,
)
from bf16perf.store.formats import loads, problem, versioned

__all__ = ["BaselineStore"]


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


class BaselineStore:
    """The ``baselines/`` directory."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path_for(self, slug: str, workload: str) -> Path:
        return self.root / slug / f"{workload}.json"

    def noise_path(self, slug: str, workload: str) -> Path:
        return self.root / slug / f"{workload}.noise.json"

    def _read(self, path: Path) -> dict[str, Any]:
        if not path.is_file():
            raise BaselineError(f"{path} is not a regular file; move it away or delete it")
        try:
            data = loads(path.read_text())
        except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:
            raise BaselineError(
                f"{path} is not valid JSON ({exc}); restore it from version control"
                " or delete it and save a new one"
            ) from None
        if not isinstance(data, dict):
            raise BaselineError(f"baseline {path}: not a JSON object")
        return data

    def _files(self, slug: str) -> list[tuple[str, bool]]:
        """This machine's kept files as (workload key, is a noise file); kept copies
        (``.prev-``) are never read."""
        out = []
        for path in sorted((self.root / slug).glob("*.json")):
            noise = path.name.endswith(".noise.json")
            if ".prev-" not in path.name:
                out.append((path.name.removesuffix(".noise.json" if noise else ".json"), noise))
        return out

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
        """The one writer of noise files (atomic): the run spread, and where a calibration
        measured one, the session spread."""
        path = self.noise_path(slug, workload)
        path.parent.mkdir(parents=True, exist_ok=True)
        doc = versioned(
            "noise",
            {
                "workload": workload,
                "fingerprint": fingerprint,
                **figures,
                "sigma": runs.sigma,
                "df": runs.df,
            },
        )
        if sessions is not None:
            doc.update(session_sigma=sessions.sigma, session_df=sessions.df)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        doc.update(command=command, datetime=stamp)
        if path.exists():
            keep_previous(path, stamp)
        atomic_json(path, doc)
        return path

    def load_noise(self, slug: str, workload: str, fingerprint_id: str | None) -> Spread | None:
        """The machine's saved between-run spread for ``workload``, or ``None``."""
        path = self.noise_path(slug, workload)
        if not path.exists():
            return None
        data = self._read(path)
        version = data.get("schema_version")
        if version != NOISE_SCHEMA_VERSION:
            raise BaselineError(
                f"noise file {path}: schema_version {version!r:.20} is not"
                f" {NOISE_SCHEMA_VERSION}; measure again with bf16perf calibrate"
            )
        wrong = problem("noise", data)
        if wrong:
            raise BaselineError(
                f"noise file {path}: {wrong}; measure again with bf16perf calibrate"
            )
        try:
            sigma, df = float(data["sigma"]), int(data["df"])
            saved_id = data["fingerprint"].get("id")
            when = data["datetime"]
        except (KeyError, TypeError, ValueError, AttributeError, OverflowError) as exc:
            if isinstance(exc, BaselineError):
                raise
            raise BaselineError(f"noise file {path}: missing or bad field {exc}") from None
        if fingerprint_id is not None and saved_id != fingerprint_id:
            raise BaselineError(
                f"noise file {path} was measured on another machine (fingerprint {saved_id});"
                " measure this one with bf16perf calibrate"
            )
        return Spread(sigma, df, f"the machine's noise file ({df + 1} A/A runs, {when})")

    def load_sessions(self, slug: str, workload: str, fingerprint_id: str | None) -> Spread | None:
        """The machine's measured between-session spread for ``workload`` (the noise file's
        optional ``session_sigma`` and ``session_df``, from A/A sessions each on a fresh
        cluster), or ``None`` where nothing measured it."""
        if self.load_noise(slug, workload, fingerprint_id) is None:  # validates the file
            return None
        path = self.noise_path(slug, workload)
        data = self._read(path)
        if "session_sigma" not in data:
            return None
        try:
            sigma, df = float(data["session_sigma"]), int(data["session_df"])
        except (KeyError, TypeError, ValueError, OverflowError) as exc:
            raise BaselineError(f"noise file {path}: missing or bad field {exc}") from None
        return Spread(sigma, df, f"this machine's calibration, {df + 1} A/A sessions ({path})")
