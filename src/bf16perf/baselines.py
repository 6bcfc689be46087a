"""Per-machine baselines under ``baselines/<fingerprint-slug>/<workload-key>.json``.

This module owns the store: one accepted baseline per machine fingerprint x workload, each
holding several runs (the unit of every throughput verdict); the document's shape
(:func:`baseline_document`); a ``schema_version`` with an upgrade path; atomic writes; and
no overwrite except by an explicit save, which keeps the previous file beside it
(``*.prev-<timestamp>.json``).  A file that is corrupt, of an unknown schema version, has
a run without figures, or was saved for another machine or workload raises
:class:`BaselineError` naming the file, which is never touched on that path.

Beside a baseline, ``<workload-key>.noise.json`` keeps the machine's measured between-run
spread (written by ``benchmarks/run.py noise``); verdicts pool it with their own runs.

Schema history: version 1 held one run (``benchmarks[0]``); version 2 holds one entry of
``benchmarks`` per run.  A version-1 file loads as a one-run baseline.
"""

from __future__ import annotations

import json
import math
import os
import statistics
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bf16perf.stats import Spread, log_spread, run_figure
from bf16perf.workload.config import RunResult

__all__ = [
    "SCHEMA_VERSION",
    "Baseline",
    "BaselineError",
    "BaselineRun",
    "BaselineStore",
    "baseline_document",
    "run_info",
]

SCHEMA_VERSION = 2
NOISE_SCHEMA_VERSION = 1


class BaselineError(ValueError):
    """A baseline file exists but cannot be used."""


@dataclass(frozen=True)
class BaselineRun:
    """One accepted run.

    Attributes:
        images_per_second: per measured step.
        losses: the loss curve, warm-up steps first.
    """

    images_per_second: list[float]
    losses: list[float]

    @property
    def figure(self) -> float:
        """The run's figure: its median images/s."""
        return run_figure(self.images_per_second)


@dataclass(frozen=True)
class Baseline:
    """Accepted runs of one workload on one machine.

    Attributes:
        path: the file it came from.
        fingerprint: the machine's fingerprint dict (with ``id`` and ``slug``).
        workload: the workload key it is valid for.
        runs: the accepted runs, in the order they were measured.
        saved_at: ISO time of the save.
        schema_version: the version the file was written with (1: one run, upgraded).
    """

    path: Path
    fingerprint: dict[str, Any]
    workload: str
    runs: list[BaselineRun]
    saved_at: str
    schema_version: int = SCHEMA_VERSION

    @property
    def figures(self) -> list[float]:
        """Each run's figure (median images/s), the unit of the throughput verdict."""
        return [r.figure for r in self.runs]

    @property
    def losses(self) -> list[float]:
        """The first run's loss curve (fixed seeds make every run's curve the same)."""
        return self.runs[0].losses

    @property
    def images_per_second(self) -> list[float]:
        """Every run's steps, in order (for plots; never pooled into a verdict)."""
        return [x for r in self.runs for x in r.images_per_second]


def update_to_2(data: dict[str, Any]) -> dict[str, Any]:
    """Version 1 had one run in ``benchmarks[0]``; version 2 has one entry per run."""
    return {**data, "schema_version": 2, "upgraded_from": 1}


_UPGRADES = {1: update_to_2}


def _upgrade(data: dict[str, Any], path: Path) -> dict[str, Any]:
    version = data.get("schema_version")
    if not isinstance(version, int):
        raise BaselineError(f"baseline {path}: no integer schema_version; restore or delete it")
    if version > SCHEMA_VERSION:
        raise BaselineError(
            f"baseline {path}: schema_version {version} is newer than this bf16perf reads"
            f" ({SCHEMA_VERSION}); upgrade bf16perf"
        )
    if version < 1:
        raise BaselineError(f"baseline {path}: schema_version {version} is unknown")
    while data["schema_version"] < SCHEMA_VERSION:  # in memory only, never rewriting the file
        data = _UPGRADES[data["schema_version"]](data)
    return data


def run_info(run: RunResult) -> dict[str, Any]:
    """A run as pytest-benchmark ``extra_info``: steps, losses, workers, kernel proof."""
    config = asdict(run.config)
    config["precision"] = run.config.precision.value
    return {
        "variant": run.label,
        "images_per_second": run.images_per_second,
        "median_images_per_second": run.median_images_per_second,
        "step_times_s": run.step_times_s,
        "losses": run.losses,
        "workers": [asdict(w) for w in run.workers],
        "config": config,
        "kernels": run.kernels,
    }


def baseline_document(
    runs: Sequence[RunResult],
    *,
    fingerprint: dict[str, Any],
    metadata: dict[str, Any],
    name: str,
    fullname: str,
) -> dict[str, Any]:
    """The baseline of ``runs`` (pytest-benchmark shaped: one ``benchmarks`` entry a run,
    each with its steps, losses, kernel proof and every worker's cpu window)."""
    if not runs:
        raise ValueError("a baseline needs at least one run")
    return {
        "machine_info": {"bf16perf_fingerprint": fingerprint, "bf16perf_metadata": metadata},
        "benchmarks": [
            {
                "name": name,
                "fullname": fullname,
                "run": i + 1,
                "stats": {
                    "median": statistics.median(run.step_times_s),
                    "rounds": len(run.step_times_s),
                    "data": run.step_times_s,
                },
                "extra_info": run_info(run),
            }
            for i, run in enumerate(runs)
        ],
    }


def _atomic_json(path: Path, doc: dict[str, Any]) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".json")
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(doc, fh, indent=1, sort_keys=True)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class BaselineStore:
    """The ``baselines/`` directory."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path_for(self, slug: str, workload: str) -> Path:
        return self.root / slug / f"{workload}.json"

    def noise_path(self, slug: str, workload: str) -> Path:
        return self.root / slug / f"{workload}.noise.json"

    def _read(self, path: Path) -> dict[str, Any]:
        try:
            data = json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise BaselineError(
                f"{path} is not valid JSON ({exc}); restore it from version control"
                " or delete it and save a new one"
            ) from None
        if not isinstance(data, dict):
            raise BaselineError(f"baseline {path}: not a JSON object")
        return data

    def load(self, slug: str, workload: str, fingerprint_id: str | None = None) -> Baseline | None:
        """The baseline for this machine and workload; ``None`` when there is none.

        ``fingerprint_id``, when given, must match the file's: a file copied under another
        machine's directory is refused rather than compared against.
        """
        path = self.path_for(slug, workload)
        if not path.exists():
            return None
        data = _upgrade(self._read(path), path)
        try:
            fingerprint = data["machine_info"]["bf16perf_fingerprint"]
            saved_for = data["workload"]
            runs = []
            for i, bench in enumerate(data["benchmarks"]):
                ips = [float(x) for x in bench["extra_info"]["images_per_second"]]
                if not ips or not all(math.isfinite(x) and x > 0 for x in ips):
                    raise BaselineError(
                        f"baseline {path}: run {i + 1} has no usable images_per_second"
                        f" ({ips}); save a new baseline with --perf-save-baseline"
                    )
                runs.append(BaselineRun(ips, [float(x) for x in bench["extra_info"]["losses"]]))
            saved_at = data["datetime"]
        except (KeyError, IndexError, TypeError, ValueError) as exc:
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
        )

    def save(self, slug: str, workload: str, document: dict[str, Any]) -> tuple[Path, Path | None]:
        """Write atomically; keep the previous file.  Returns ``(path, previous or None)``."""
        path = self.path_for(slug, workload)
        path.parent.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        doc = {"schema_version": SCHEMA_VERSION, "workload": workload, "datetime": stamp}
        doc.update(document)
        previous = None
        if path.exists():
            previous = path.with_name(f"{path.stem}.prev-{stamp}.json")
            os.link(path, previous)
        _atomic_json(path, doc)
        return path, previous

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
        path = self.noise_path(slug, workload)
        path.parent.mkdir(parents=True, exist_ok=True)
        _atomic_json(
            path,
            {
                "schema_version": NOISE_SCHEMA_VERSION,
                "workload": workload,
                "fingerprint": fingerprint,
                "figures": list(figures),
                "sigma": spread.sigma,
                "df": spread.df,
                "command": command,
                "datetime": datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ"),
            },
        )
        return path, spread

    def load_noise(self, slug: str, workload: str, fingerprint_id: str | None) -> Spread | None:
        """The machine's saved between-run spread for ``workload``, or ``None``."""
        path = self.noise_path(slug, workload)
        if not path.exists():
            return None
        data = self._read(path)
        try:
            version = data["schema_version"]
            if version != NOISE_SCHEMA_VERSION:
                raise BaselineError(
                    f"noise file {path}: schema_version {version} is not"
                    f" {NOISE_SCHEMA_VERSION}; measure again with benchmarks/run.py noise"
                )
            sigma, df = float(data["sigma"]), int(data["df"])
            saved_id = data["fingerprint"].get("id")
            when = data["datetime"]
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            if isinstance(exc, BaselineError):
                raise
            raise BaselineError(f"noise file {path}: missing or bad field {exc}") from None
        if fingerprint_id is not None and saved_id != fingerprint_id:
            raise BaselineError(
                f"noise file {path} was measured on another machine (fingerprint {saved_id});"
                " measure this one with benchmarks/run.py noise"
            )
        if not (math.isfinite(sigma) and sigma >= 0 and df >= 1):
            raise BaselineError(f"noise file {path}: sigma {sigma}, df {df} are not usable")
        return Spread(sigma, df, f"the machine's noise file ({df + 1} A/A runs, {when})")
