"""Per-machine baselines under ``baselines/<fingerprint-slug>/<workload-key>.json``.

This module owns the store: one accepted baseline per machine fingerprint x workload, a
``schema_version`` with an upgrade path, atomic writes, and no overwrite except by an
explicit save, which keeps the previous file beside it (``*.prev-<timestamp>.json``).  A
corrupt file or an unknown schema version raises :class:`BaselineError` naming the file,
which is never touched on that path.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

__all__ = ["SCHEMA_VERSION", "Baseline", "BaselineError", "BaselineStore"]

SCHEMA_VERSION = 1


class BaselineError(ValueError):
    """A baseline file exists but cannot be used."""


@dataclass(frozen=True)
class Baseline:
    """An accepted run.

    Attributes:
        path: the file it came from.
        fingerprint: the machine's fingerprint dict (with ``id`` and ``slug``).
        workload: the workload key it is valid for.
        images_per_second: per measured step.
        losses: the loss curve, warm-up steps first.
        saved_at: ISO time of the save.
    """

    path: Path
    fingerprint: dict[str, Any]
    workload: str
    images_per_second: list[float]
    losses: list[float]
    saved_at: str


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
    # future: `if version == 1: data = update_to_2(data)` and so on, never rewriting the file
    return data


class BaselineStore:
    """The ``baselines/`` directory."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path_for(self, slug: str, workload: str) -> Path:
        return self.root / slug / f"{workload}.json"

    def load(self, slug: str, workload: str) -> Baseline | None:
        """The baseline for this machine and workload; ``None`` when there is none."""
        path = self.path_for(slug, workload)
        if not path.exists():
            return None
        try:
            data = json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise BaselineError(
                f"baseline {path} is not valid JSON ({exc}); restore it from version control"
                " or delete it and save a new one with --perf-save-baseline"
            ) from None
        if not isinstance(data, dict):
            raise BaselineError(f"baseline {path}: not a JSON object")
        data = _upgrade(data, path)
        try:
            bench = data["benchmarks"][0]
            return Baseline(
                path=path,
                fingerprint=data["machine_info"]["bf16perf_fingerprint"],
                workload=data["workload"],
                images_per_second=[float(x) for x in bench["extra_info"]["images_per_second"]],
                losses=[float(x) for x in bench["extra_info"]["losses"]],
                saved_at=data["datetime"],
            )
        except (KeyError, IndexError, TypeError, ValueError) as exc:
            raise BaselineError(f"baseline {path}: missing or bad field {exc}") from None

    def save(self, slug: str, workload: str, document: dict[str, Any]) -> tuple[Path, Path | None]:
        """Write atomically; keep the previous file.  Returns ``(path, previous or None)``."""
        path = self.path_for(slug, workload)
        path.parent.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        doc = {
            "schema_version": SCHEMA_VERSION,
            "workload": workload,
            "datetime": stamp,
            **document,
        }
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".json")
        with os.fdopen(fd, "w") as fh:
            json.dump(doc, fh, indent=1, sort_keys=True)
            fh.flush()
            os.fsync(fh.fileno())
        previous = None
        if path.exists():
            previous = path.with_name(f"{path.stem}.prev-{stamp}.json")
            os.link(path, previous)
        os.replace(tmp, path)
        return path, previous
