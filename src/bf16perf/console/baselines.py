"""``bf16perf baselines``: each machine's baselines and noise files, read as a session
reads them, and managed: one shown with its sessions and previous versions, a finished
session's runs accepted as the baseline without training again, a previous version
restored, old versions pruned.  Every write is atomic and keeps the version it replaces."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bf16perf.console._common import InputError
from bf16perf.store.formats import DEFAULT_BASELINES

if TYPE_CHECKING:
    from bf16perf.store.report_json import Report, ReportRun

__all__ = ["add", "run"]

ACTIONS = ("list", "show", "accept", "rollback", "prune")
_USAGE = (
    "bf16perf baselines [list] [DIR] | show KEY | accept REPORT_DIR | rollback KEY |"
    " prune [--versions N]   (--dir DIR for all but list)"
)


def add(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    b = sub.add_parser(
        "baselines",
        help="the stored baselines: list, show, accept a session, rollback, prune",
        description="list [DIR]: machine, workload, sessions and age of every file;"
        " show KEY: its sessions, figures and previous versions; accept REPORT_DIR: that"
        " finished session's runs become each workload's baseline (no training);"
        " rollback KEY: restore the previous version; prune: remove previous versions"
        " beyond the newest --versions.  Exit 0, or 2 with one line naming the file.",
        usage=_USAGE,
    )
    b.add_argument("words", nargs="*", help=argparse.SUPPRESS)
    b.add_argument("--dir", type=Path, default=None, help="the store (default baselines/)")
    b.add_argument("--machine", default=None, help="the machine's slug, where KEY is on several")
    b.add_argument("--versions", type=int, default=5, help="prune: previous versions kept")
    b.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """The action's exit code (see the parser's description)."""
    words: list[str] = list(args.words)
    action = words.pop(0) if words and words[0] in ACTIONS else "list"
    wanted = {"list": (0, 1), "show": (1, 1), "accept": (1, 1), "rollback": (1, 1), "prune": (0, 0)}
    low, high = wanted[action]
    if not low <= len(words) <= high:
        raise InputError(f"baselines {action}: {len(words)} arguments; usage: {_USAGE}")
    if action == "list":
        root = Path(words[0]) if words else (args.dir or DEFAULT_BASELINES)
        return _list(root)
    root = args.dir or DEFAULT_BASELINES
    if not root.is_dir():
        raise InputError(f"{root}: no such baseline store (--dir names it)")
    if action == "accept":
        return _accept(root, Path(words[0]))
    if action == "prune":
        return _prune(root, args.versions)
    path = _find(root, words[0], args.machine)
    return _show(path) if action == "show" else _rollback(path)


def _find(root: Path, key: str, machine: str | None) -> Path:
    from bf16perf.store.baselines import BaselineStore

    files = BaselineStore(root).files()
    found = [f.path for f in files if f.key == key and not f.noise and machine in (None, f.slug)]
    if not found:
        raise InputError(f"{root}: no baseline {key!r}{f' for {machine}' if machine else ''}")
    if len(found) > 1:
        slugs = ", ".join(p.parent.name for p in found)
        raise InputError(f"{key!r} is kept for several machines ({slugs}): name one, --machine")
    return found[0]


def _show(path: Path) -> int:
    from bf16perf.store.baseline import BaselineError
    from bf16perf.store.baselines import BaselineStore, StoreFile
    from bf16perf.store.versions import previous_versions

    kept = StoreFile.at(path)
    try:
        baseline = BaselineStore(path.parent.parent).load(kept.slug, kept.key)
    except BaselineError as exc:
        raise InputError(str(exc)) from None
    assert baseline is not None
    now = datetime.now(UTC)
    print(f"{kept.slug}  {kept.key}  {baseline.described}, last saved {baseline.saved_at}"
          f" ({_age(now, baseline.saved_at)})")  # fmt: skip
    for i, figures in enumerate(baseline.session_figures, 1):
        shown = ", ".join(f"{x:.4g}" for x in figures)
        print(f"  session {i}: {len(figures)} runs, images/s {shown}")
    versions = previous_versions(path)
    print(f"  previous versions: {len(versions)}" + (" (newest first)" if versions else ""))
    for version in versions:
        print(f"    {version.name}")
    return 0


def _rollback(path: Path) -> int:
    from bf16perf.store.versions import VersionError, rollback

    try:
        restored, kept = rollback(path)
    except VersionError as exc:
        raise InputError(str(exc)) from None
    print(f"{path}: restored from {restored.name}; the version it replaced kept as {kept.name}")
    return 0


def _prune(root: Path, versions: int) -> int:
    from bf16perf.store.versions import prune

    if versions < 0:
        raise InputError(f"--versions {versions}: keep 0 or more previous versions")
    from bf16perf.store.baselines import BaselineStore

    removed = sum(len(prune(f.path, versions)) for f in BaselineStore(root).files())
    print(f"{root}: {removed} previous versions removed, the newest {versions} of each kept")
    return 0


def _accept(root: Path, report_dir: Path) -> int:
    """Each workload key's candidate runs of a finished session become its baseline, as if
    that session had run with --perf-save-baseline."""
    from bf16perf.store.baseline import DEFAULT_SESSIONS
    from bf16perf.store.baselines import BaselineStore

    report, path = _report(report_dir)
    if report.injected or report.kind in ("ab", "paired"):
        what = "an injected slowdown's self-test" if report.injected else "an A/B session"
        raise InputError(f"{path}: {what}: its runs are no baseline; accept a session of its own")
    by_key: dict[str, list[ReportRun]] = {}
    for one in report.candidate_runs():
        by_key.setdefault(one.workload_key, []).append(one)
    if not by_key:
        raise InputError(f"{path}: no runs of this session's own stack to accept")
    store = BaselineStore(root)
    for key, runs in sorted(by_key.items()):
        doc = _document(runs, dict(report.fingerprint), dict(report.metadata), path)
        saved, previous, held = store.save(report.slug, key, doc, keep=DEFAULT_SESSIONS)
        kept = f" (previous kept as {previous.name})" if previous else ""
        print(f"{key}: {len(runs)} runs of {path.parent.name} accepted into {saved},"
              f" which now holds {held} session{'s' if held != 1 else ''}{kept}")  # fmt: skip
    return 0


#: The fields of a run a baseline keeps (:meth:`RunResult.to_dict`); the report's own
#: additions (its key, interval, decomposition, share of peak) stay in the report.
_RUN_FIELDS = (
    "variant", "stack", "precision", "config", "images_per_second", "median_images_per_second",
    "step_times_s", "losses", "wall_s", "kernels", "workers",
)  # fmt: skip


def _document(
    runs: list[ReportRun], fingerprint: dict[str, Any], metadata: dict[str, Any], path: Path
) -> dict[str, Any]:
    import statistics

    benchmarks = []
    for i, run in enumerate(runs, 1):
        one = run.fields
        steps = run.step_times_s
        if not steps or not run.images_per_second or not run.losses:
            raise InputError(f"{path}: run {i} of {run.workload_key} has no steps")
        benchmarks.append({
            "name": run.variant,
            "fullname": f"accepted from {path}",
            "run": i,
            "stats": {"median": statistics.median(steps), "rounds": len(steps), "data": steps},
            "extra_info": {k: one[k] for k in _RUN_FIELDS if k in one},
        })  # fmt: skip
    return {
        "machine_info": {"bf16perf_fingerprint": fingerprint, "bf16perf_metadata": metadata},
        "benchmarks": benchmarks,
    }


def _report(report_dir: Path) -> tuple[Report, Path]:
    from bf16perf.store.report_json import Report, ReportError

    path = report_dir / "report.json" if report_dir.is_dir() else report_dir
    try:
        return Report.read(path), path
    except ReportError as exc:
        raise InputError(str(exc)) from None


def _list(root: Path) -> int:
    """One row a usable file; an unusable file is named with why on stderr, and the
    command exits 2."""
    from bf16perf.store.baseline import BaselineError
    from bf16perf.store.baselines import BaselineStore

    if not root.is_dir():
        raise InputError(f"{root}: no such baseline store")
    store, now = BaselineStore(root), datetime.now(UTC)
    if store.machine_level():
        raise InputError(
            f"{root} holds the files of one machine: give the store above it ({root.parent})"
        )
    rows = bad = 0
    for kept in store.files():
        path, slug, noise, key = kept.path, kept.slug, kept.noise, kept.key
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
