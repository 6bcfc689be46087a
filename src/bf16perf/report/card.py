"""The report's decision card: "did we get slower?" answered before any table.

One row a verdict that has a ratio (throughput against a baseline or a reference, the
paired nightly, the bf16 gate), all on one axis: the ratio (a dot), its interval (a line),
no change (1, grey), the threshold (1 - threshold, dashed red; for the gate, its minimum
speedup), the detectable drop (a band from 1 - drop to 1: a drop inside it these runs could
not have told from noise), and the verdict's word at the right, red where it fails.  Rows
are read by :func:`bf16perf.verdicts.outcomes.verdict_row`, as the CI summary reads them; drawn by
matplotlib as inline SVG, like every plot of the page (:func:`bf16perf.report.plots.svg`).
"""

from __future__ import annotations

from typing import Any

from bf16perf.report.plots import one_of_each, svg
from bf16perf.store.report_json import Report
from bf16perf.verdicts.outcomes import Outcome, verdict_row

__all__ = ["card_rows", "decision_card"]

_COLOURS = {"fails": "#c0392b", "ok": "#2e7d32", "other": "#8a6d00"}


def card_rows(report: dict[str, Any]) -> list[dict[str, Any]]:
    """The verdicts of ``report`` that have a ratio, as rows (with their outcome's kind)."""
    rows = []
    for d in Report.of(report).decisions:
        row = verdict_row(d.test, d.check, d.outcome, dict(d.figures), "")
        if row["change"] is None:
            continue
        try:
            outcome = Outcome(row["verdict"])
        except ValueError:
            outcome = None
        good = outcome in (Outcome.OK, Outcome.IMPROVED)
        row["kind"] = (
            "fails" if outcome is not None and outcome.fails else "ok" if good else "other"
        )
        rows.append(row)
    return rows


def _short(test: str) -> str:
    return test.split("::")[-1]


def _row(ax: Any, row: dict[str, Any]) -> None:
    """One verdict on its own axis (a gate near 1.8x and a throughput ratio near 1 are each
    read at their own scale)."""
    ratio = row["change"] + 1
    low, high = row["ci"] if row["ci"] is not None else (ratio, ratio)
    top = high if high is not None else ratio
    line = row["gate"]
    if line is None and row["threshold"] is not None:
        line = 1 - row["threshold"]
    edges = [1.0, low, top] + ([line] if line is not None else [])
    drop = row["detectable_drop"]
    if drop is not None and row["gate"] is None:
        ax.axvspan(1 - drop, 1, color="#999999", alpha=0.25,
                   label="detectable drop")  # fmt: skip
        edges.append(1 - drop)
    ax.axvline(1.0, color="#777777", lw=1, label="no change")
    if line is not None:
        ax.axvline(line, color="#c0392b", ls="--", label="threshold / gate")
    ax.hlines(0, low, top, colors="#333333", lw=2, label="interval")
    ax.plot([ratio], [0], "o", color="#333333", label="ratio")
    span = max(edges) - min(edges) or 0.1
    ax.set_xlim(min(edges) - 0.1 * span, max(edges) + 0.1 * span)
    ax.set_ylim(-1, 1)
    ax.set_yticks([])
    ax.grid(axis="x", alpha=0.3)
    ax.tick_params(axis="x", labelsize=7)
    ax.set_title(f"{_short(row['test'])}: {row['check']}", loc="left", fontsize=8)
    ax.annotate(f"{row['verdict']}  {row['change']:+.1%}", (1.01, 0.5), xycoords="axes fraction",
                va="center", color=_COLOURS[row["kind"]], fontsize=9,
                fontweight="bold")  # fmt: skip


def decision_card(rows: list[dict[str, Any]]) -> str | None:
    """The card as inline SVG, or ``None`` where no verdict has a ratio."""
    if not rows:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(rows), 1, figsize=(7.5, 0.8 * len(rows) + 0.9), squeeze=False)
    for ax, row in zip(axes[:, 0], rows, strict=True):
        _row(ax, row)
    axes[-1, 0].set_xlabel("ratio, now / then (1 = no change, below 1 = slower; gate: bf16 / fp32)")
    fig.legend(*one_of_each(*axes[:, 0]), loc="lower center",
               bbox_to_anchor=(0.5, -0.08), ncol=5, fontsize=7, frameon=False)  # fmt: skip
    fig.tight_layout()
    return svg(fig, "card")
