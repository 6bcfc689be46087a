"""``bf16perf side-by-side REPORT...``: how much of the harness is in the figure, one
session a row (#35, BENCHMARKS.md H2).

Each row is a finished session of fp32 and bf16 runs under one harness setting (the local
shape, the bf16 all-reduce, the gradient packing, the collective; ``scripts/side_by_side.sh``
runs them): the gate's ratio (or, without a gate, the ratio of the run figures' medians),
the share of the bf16 step its timed all-reduce takes, the session's wall time and how far
bf16's final loss is from fp32's.  A row whose bf16 ran emulated says so: its ratio is no
bf16 speedup.
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bf16perf.console._common import InputError
from bf16perf.console.compare import report_at
from bf16perf.onednn.decomposition import median_step_parts, pooled_steps
from bf16perf.store.report_json import Report, ReportRun

__all__ = ["COLUMNS", "add", "row_of", "run", "table"]

#: The table's columns, in order.
COLUMNS = (
    "row",
    "shape",
    "bf16 all-reduce",
    "pack",
    "collective",
    "bf16/fp32",
    "all-reduce, % of bf16 step",
    "session",
    "loss, bf16 - fp32",
)


def add(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    s = sub.add_parser(
        "side-by-side",
        help="sessions of one harness setting each, side by side (bf16/fp32, all-reduce share)",
        description="One row per session report (a directory or its report.json): the harness"
        " setting it ran (shape, bf16 all-reduce, packing, collective), its bf16/fp32 ratio,"
        " the all-reduce's share of the bf16 step, the session's time and the loss"
        " difference.  scripts/side_by_side.sh runs the rows.",
    )
    s.add_argument("reports", type=Path, nargs="+", help="session report directories")
    s.add_argument("--format", choices=("markdown", "json"), default="markdown")
    s.set_defaults(run=run)


def _runs(report: Report, precision: str) -> list[ReportRun]:
    return [
        r for r in report.candidate_runs() if r.precision == precision and r.variant == precision
    ]


def _median_figure(runs: Sequence[ReportRun]) -> float | None:
    return statistics.median(r.figure for r in runs) if runs else None


def _allreduce_share(runs: Sequence[ReportRun]) -> float | None:
    """The timed all-reduce's share of the median step, over every run's steps."""
    times, parts = pooled_steps((r.step_times_s, r.step_parts) for r in runs)
    median = median_step_parts(times, parts)
    return median["allreduce"] / statistics.median(times) if median else None


def row_of(report: Report, name: str) -> dict[str, Any]:
    """One row: the session's setting and figures (``None`` where it has none)."""
    fp32, bf16 = _runs(report, "fp32"), _runs(report, "bf16")
    if not fp32 or not bf16:
        raise InputError(
            f"{name}: the session has no fp32 and bf16 runs of its own to set side by side"
        )
    first = bf16[0]
    config = first.config
    workers = first.workers
    gate = report.speedup
    a, b = _median_figure(fp32), _median_figure(bf16)
    ratio = float(gate["ratio"]) if gate else (b / a if a and b else None)
    loss = statistics.median(r.losses[-1] for r in bf16) - statistics.median(
        r.losses[-1] for r in fp32
    )
    return {
        "row": report.labels.get("row") or name,
        "shape": f"{len(workers)}x{len(workers[0].cpus)}" if workers else "?",
        "bf16_allreduce": bool(config.get("bf16_allreduce")),
        "bytes_per_pack": config.get("bytes_per_pack"),
        "collective": config.get("collective", "ring"),
        "ratio": ratio,
        "ratio_ci": list(gate["ci"]) if gate else None,
        "emulated": bool(first.proof.emulated),
        "allreduce_share": _allreduce_share(bf16),
        "session_s": report.duration_s,
        "loss_difference": loss,
    }


def _cells(row: dict[str, Any]) -> list[str]:
    ratio = "-" if row["ratio"] is None else f"{row['ratio']:.3f}x"
    if row["ratio_ci"]:
        ratio += f" [{row['ratio_ci'][0]:.3f}, {row['ratio_ci'][1]:.3f}]"
    elif row["ratio"] is not None:
        ratio += " (figures, no gate)"
    if row["emulated"]:
        ratio += " emulated bf16"
    pack = row["bytes_per_pack"]
    share = row["allreduce_share"]
    return [
        str(row["row"]),
        str(row["shape"]),
        "yes" if row["bf16_allreduce"] else "no",
        "-" if pack is None else "none" if pack == 0 else f"{pack / 2**20:g} MiB",
        str(row["collective"]),
        ratio,
        "not timed" if share is None else f"{share:.0%}",
        "-" if row["session_s"] is None else f"{row['session_s'] / 60:.1f} min",
        f"{row['loss_difference']:+.4f}",
    ]


def table(rows: Sequence[dict[str, Any]]) -> list[str]:
    """The rows as a Markdown table."""
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(_cells(r)) + " |" for r in rows]
    return lines


def run(args: argparse.Namespace) -> int:
    rows = [row_of(report_at(path), str(path)) for path in args.reports]
    if args.format == "json":
        print(json.dumps({"rows": rows}, indent=2))
    else:
        print("\n".join(table(rows)))
    return 0
