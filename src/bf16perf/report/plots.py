"""The report's plots, as inline SVG drawn by matplotlib (axes, ticks, legends and units a
browser can find; one approach for every plot of the page): throughput of every run, step
times, each worker's share of the step, loss curves, the gate, and the trend of this
machine's history.

Every plot reads the report dict (:mod:`bf16perf.report.data`) and computes nothing a
verdict uses.  Steps count from 1 everywhere, warm-up steps shaded; time axes are plain
seconds; the trend's x axis is the sessions' start dates.
"""

from __future__ import annotations

import io
import re
import statistics
from collections.abc import Mapping, Sequence
from typing import Any

from bf16perf.store.history_line import lines_of
from bf16perf.store.report_json import Report, ReportRun
from bf16perf.verdicts.apply import LOSS_ATOL, LOSS_RTOL

__all__ = ["TITLES", "one_of_each", "plots", "svg"]

TITLES = {
    "throughput": "Throughput",
    "step_times": "Step times",
    "workers": "Each worker's share of the step",
    "loss": "Loss curves",
    "pairs": "A/B pairs",
    "speedup": "bf16 speedup",
    "trend": "Trend",
}


def svg(fig: Any, name: str) -> str:
    """``fig`` as inline SVG markup, its text kept as text and every id prefixed with
    ``name``, so that several plots share one page without their ids (clip paths, ticks)
    colliding."""
    import matplotlib.pyplot as plt

    buf = io.StringIO()
    with plt.rc_context({"svg.fonttype": "none", "svg.hashsalt": name}):
        fig.savefig(buf, format="svg", bbox_inches="tight")
    plt.close(fig)
    text = buf.getvalue()
    text = text[text.index("<svg") :]
    text = re.sub(r'\bid="', f'id="{name}-', text)
    return re.sub(r"(url\(#|href=\"#)", rf"\g<1>{name}-", text)


def one_of_each(*axes: Any) -> tuple[list[Any], list[str]]:
    """The legend entries of ``axes``, each label once (artists drawn point by point or row
    by row repeat their label)."""
    found: dict[str, Any] = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            found.setdefault(label, handle)
    return list(found.values()), list(found)


def _firsts(runs: Sequence[ReportRun]) -> dict[str, ReportRun]:
    """The first run of each variant and stack: the one the step plots show."""
    firsts: dict[str, ReportRun] = {}
    for run in runs:
        firsts.setdefault(run.label, run)
    return firsts


def _throughput(plt: Any, report: Report) -> str:
    """Every run's figure (the median images/s of its measured steps) with its steps' 95%
    interval, a column a variant and stack, runs left to right in the order they trained;
    the baseline's runs beside it as open marks and their median as a dashed line."""
    fig, ax = plt.subplots(figsize=(6.5, 3.4))
    runs = report.runs
    labels = list(dict.fromkeys(r.label for r in runs))
    for i, label in enumerate(labels):
        mine = [r for r in runs if r.label == label]
        xs = [i - 0.2 + 0.4 * j / max(1, len(mine) - 1) for j in range(len(mine))]
        ys = [r.figure for r in mine]
        lows = [y - r.ci[0] for y, r in zip(ys, mine, strict=True)]
        highs = [r.ci[1] - y for y, r in zip(ys, mine, strict=True)]
        ax.errorbar(xs, ys, yerr=[lows, highs], fmt="o", color="#4c72b0", capsize=3,
                    label="a run: median of its steps, 95% CI" if i == 0 else None)  # fmt: skip
        figures = report.baseline_figures(mine[0].workload_key)
        if figures:
            ax.plot([i + 0.3] * len(figures), figures, "o", mfc="none", color="#dd8452",
                    label="a baseline run" if i == 0 else None)  # fmt: skip
            ax.hlines(statistics.median(figures), i - 0.4, i + 0.4, colors="#dd8452",
                      linestyles="--", label="baseline median" if i == 0 else None)  # fmt: skip
    ax.set_xticks(range(len(labels)), labels, fontsize=8)
    ax.set_xlim(-0.6, len(labels) - 0.4)
    ax.set_ylabel("images/s (a run's median step)")
    ax.set_title(f"Throughput: every run ({len(runs)})")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(loc="lower right", fontsize=7)
    return svg(fig, "throughput")


def _pairs(plt: Any, runs: Sequence[ReportRun]) -> str | None:
    """A/B sessions: each pair's candidate / reference ratio, pair by pair, a line a
    variant; ``None`` where the session ran no reference."""
    fig, ax = plt.subplots(figsize=(6.5, 3.0))
    drawn = 0
    for variant in dict.fromkeys(r.variant for r in runs):
        mine = [r for r in runs if r.variant == variant]
        cand = [r.figure for r in mine if r.candidate]
        ref = [r.figure for r in mine if r.stack == "reference"]
        ratios = [c / r for c, r in zip(cand, ref, strict=False)]
        if ratios:
            ax.plot(
                range(1, len(ratios) + 1), ratios, "o-", label=f"{variant}: candidate / reference"
            )
            drawn += 1
    if not drawn:
        plt.close(fig)
        return None
    ax.axhline(1.0, color="#777777", lw=1, label="no change")
    ax.set_xlabel("pair (in the order trained)")
    ax.set_ylabel("ratio of the two runs' images/s")
    ax.set_title("A/B: each interleaved pair")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    return svg(fig, "pairs")


def _shade_warmup(ax: Any, warmup: int) -> None:
    if warmup:
        ax.axvspan(0.5, warmup + 0.5, color="#cccccc", alpha=0.3)


def _step_times(plt: Any, firsts: dict[str, ReportRun]) -> str:
    """The synchronous step (the slowest worker's), warm-up first."""
    fig, ax = plt.subplots(figsize=(6, 3.2))
    for label, run in firsts.items():
        workers = run.workers
        warm = [max(ts) for ts in zip(*(w.warmup_times_s for w in workers), strict=True)]
        times = warm + run.step_times_s
        ax.plot(range(1, len(times) + 1), times, marker="o", ms=3, label=label)
    first = next(iter(firsts.values()))
    _shade_warmup(ax, len(first.workers[0].warmup_times_s))
    from matplotlib.ticker import FormatStrFormatter, LogLocator, NullFormatter

    ax.set_yscale("log")  # a warm-up step can be 10x a measured one
    ax.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    ax.yaxis.set_major_formatter(FormatStrFormatter("%g"))
    ax.yaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("step (grey: warm-up, not measured)")
    ax.set_ylabel("seconds (log scale)")
    ax.set_title("Synchronous step time")
    ax.legend(fontsize=7)
    return svg(fig, "step_times")


def _workers(plt: Any, firsts: dict[str, ReportRun]) -> str:
    """Per worker and measured step: its own CPU time over (step wall time x its CPUs).

    A worker that computes the whole step sits near its threads' share; one that waits in
    the all-reduce for a straggler sits lower: the straggler is the one on top."""
    fig, ax = plt.subplots(figsize=(6, 3.2))
    for label, run in firsts.items():
        for w in run.workers:
            if not w.step_cpu_s:
                continue
            n = max(1, len(w.cpus))
            share = [c / (t * n) for c, t in zip(w.step_cpu_s, w.step_times_s, strict=False)]
            ax.plot(
                range(1, len(share) + 1),
                share,
                marker="o",
                ms=3,
                label=f"{label} worker {w.rank} (CPUs {w.cpus})",
            )
    ax.set_ylim(bottom=0)
    ax.set_xlabel("measured step")
    ax.set_ylabel("CPU time / (wall x CPUs)")
    ax.set_title("Each worker's own work in the step")
    ax.legend(fontsize=7)
    return svg(fig, "workers")


def _losses(plt: Any, firsts: dict[str, ReportRun], report: Report) -> str:
    fig, ax = plt.subplots(figsize=(6, 3.2))
    for label, run in firsts.items():
        steps = range(1, len(run.losses) + 1)
        ax.plot(steps, run.losses, marker="o", ms=3, label=label)
        b = report.baseline_losses(run.workload_key)
        if b is not None:
            band = [LOSS_ATOL + LOSS_RTOL * abs(x) for x in b]
            ax.fill_between(
                range(1, len(b) + 1),
                [x - d for x, d in zip(b, band, strict=True)],
                [x + d for x, d in zip(b, band, strict=True)],
                alpha=0.3,
                label=f"{label} baseline band",
            )
    first = next(iter(firsts.values()))
    _shade_warmup(ax, len(first.workers[0].warmup_times_s))
    ax.set_xlabel("step (grey: warm-up)")
    ax.set_ylabel("loss")
    ax.set_title("Loss curves")
    ax.legend(fontsize=8)
    return svg(fig, "loss")


def _speedup(plt: Any, s: Mapping[str, Any]) -> str:
    fig, ax = plt.subplots(figsize=(6, 2.2))
    high = s["ci"][1] if s["ci"][1] is not None else s["ratio"]  # unbounded: not drawn
    ax.errorbar(
        [s["ratio"]],
        [0],
        xerr=[[s["ratio"] - s["ci"][0]], [high - s["ratio"]]],
        fmt="o",
        capsize=8,
        label=f"bf16/fp32 ({s.get('confidence', 0.95):.1%} CI, {s.get('pairs', '?')} pairs)",
    )
    ax.axvline(s["gate"], color="red", linestyle="--", label=f"gate {s['gate']:.2f}x")
    ax.set_yticks([])
    ax.set_xlabel("speedup (x)")
    ax.set_title("bf16 speedup against the release gate")
    ax.legend(fontsize=8)
    return svg(fig, "speedup")


def trend_series(
    history: list[dict[str, Any]], slug: str
) -> tuple[list[str], dict[str, list[float | None]]]:
    """This machine's sessions (their start dates) and each series (variant images/s, and
    ``speedup``), ``None`` where a session lacks it."""
    same = [h for h in lines_of(history) if h.fingerprint == slug]
    dates = [h.started.replace("T", " ").rstrip("Z")[:16] for h in same]
    names = sorted({p for h in same for p in h.medians})
    series: dict[str, list[float | None]] = {p: [h.medians.get(p) for h in same] for p in names}
    series["speedup"] = [h.speedup for h in same]
    return dates, series


def _trend(plt: Any, dates: list[str], series: dict[str, list[float | None]]) -> str:
    fig, ax = plt.subplots(figsize=(6, 3.2))
    xs = list(range(len(dates)))
    for name, ys in series.items():
        if name == "speedup" or all(y is None for y in ys):
            continue
        values = [y if y is not None else float("nan") for y in ys]
        ax.plot(xs, values, marker="o", label=f"{name} images/s")
    step = max(1, len(xs) // 8)  # at most about 8 date labels
    ax.set_xticks(xs[::step], dates[::step], rotation=30, ha="right", fontsize=7)
    ax.set_xlim(-0.5, len(xs) - 0.5)
    ax.set_xlabel("session start (UTC), this machine")
    ax.set_ylabel("images/s")
    ax.set_title(f"Trend over {len(xs)} session(s)")
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8, loc="upper left")
    return svg(fig, "trend")


def plots(document: dict[str, Any], history: list[dict[str, Any]]) -> dict[str, str]:
    """Every plot the report has data for, by name (see :data:`TITLES`)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    report = Report.of(document)
    out: dict[str, str] = {}
    firsts = _firsts(report.runs)
    if firsts:
        out["throughput"] = _throughput(plt, report)
        pairs = _pairs(plt, report.runs)
        if pairs is not None:
            out["pairs"] = pairs
        out["step_times"] = _step_times(plt, firsts)
        if any(w.step_cpu_s for run in firsts.values() for w in run.workers):
            out["workers"] = _workers(plt, firsts)
        out["loss"] = _losses(plt, firsts, report)
    if report.speedup:
        out["speedup"] = _speedup(plt, report.speedup)
    dates, series = trend_series(history, report.slug)
    if dates:
        out["trend"] = _trend(plt, dates, series)
    return out
