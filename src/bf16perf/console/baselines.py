"""``bf16perf baselines``: each machine's baselines and noise files, read as a session
reads them."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path

from bf16perf.console._common import InputError

__all__ = ["add", "run"]


def add(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    b = sub.add_parser("baselines", help="the stored baselines: machine, workload, runs, age")
    b.add_argument("dir", nargs="?", type=Path, default=Path("baselines"))
    b.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """One row a usable file; an unusable file is named with why on stderr, and the
    command exits 2."""
    from bf16perf.baselines import BaselineError
    from bf16perf.store import BaselineStore

    root: Path = args.dir
    if not root.is_dir():
        raise InputError(f"{root}: no such baseline store")
    if any(root.glob("*.json")) and not any(root.glob("*/*.json")):
        raise InputError(
            f"{root} holds the files of one machine: give the store above it ({root.parent})"
        )
    store, now = BaselineStore(root), datetime.now(UTC)
    rows = bad = 0
    for path in sorted(root.glob("*/*.json")):
        if ".prev-" in path.name:
            continue
        slug, noise = path.parent.name, path.name.endswith(".noise.json")
        key = path.name.removesuffix(".noise.json" if noise else ".json")
        try:
            if noise:
                spread = store.load_noise(slug, key, None)
                what = f"noise file, spread {spread.sigma:.1%} ({spread.source})" if spread else ""
            else:
                baseline = store.load(slug, key)
                if baseline is None:
                    continue
                saved_on = baseline.fingerprint.get("slug")
                if saved_on != slug:
                    raise BaselineError(
                        f"baseline {path} was saved on machine {saved_on!r} but is kept under"
                        f" {slug!r}: move it back under {saved_on}"
                    )
                age = _age(now, baseline.saved_at)
                what = f"{baseline.described}, last saved {baseline.saved_at} ({age})"
        except BaselineError as exc:
            print(f"bf16perf baselines: {exc}", file=sys.stderr)
            bad += 1
            continue
        print(f"{slug}  {key}  {what}")
        rows += 1
    if not rows and not bad:
        print(f"{root}: no baselines yet (save one with pytest perf/ --perf-save-baseline)")
    return 2 if bad else 0


def _age(now: datetime, saved: str) -> str:
    try:
        when = datetime.strptime(saved, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    except (TypeError, ValueError):
        return "age unknown"
    return f"{(now - when).days} days old"
