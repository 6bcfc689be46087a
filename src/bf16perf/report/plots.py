"""The report's plots, as base64 PNGs: throughput, step times, each worker's share of the
step, loss curves, the gate, and the trend of this machine's history.

Every plot reads the report dict (:mod:`bf16perf.report.data`) and computes nothing a
verdict uses.  Steps count from 1 everywhere, warm-up steps shaded; time axes are plain
seconds; the trend's x axis is the sessions' start dates.
"""

from __future__ import annotations

import base64
import io
import statistics
from typing import Any

from bf16perf.judge import LOSS_ATOL, LOSS_RTOL

__all__ = ["TITLES", "plots"]

TITLES = {
    "throughput": "Throughput",
    "step_times": "Step times",
    "workers": "Each worker's share of the step",
    "loss": "Loss curves",
    "speedup": "bf16 speedup",
    "trend": "Trend",
}


def _png(fig: Any) -> str:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def _label(run: dict[str, Any]) -> str:
    label = str(run.get("variant", run["precision"]))
    return label if run.get("stack", "candidate") == "candidate" else f"{label} (reference)"


def _firsts(runs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The first run of each variant and stack: the one the step plots show."""
    firsts: dict[str, dict[str, Any]] = {}
    for run in runs:
        firsts.setdefault(_label(run), run)
    return firsts


def _throughput(plt: Any, firsts: dict[str, Any], baselines: dict[str, Any]) -> str:
    fig, ax = plt.subplots(figsize=(6, 3.2))
    labels = list(firsts)
    values = [firsts[k]["median_images_per_second"] for k in labels]
    lows = [v - firsts[k]["images_per_second_ci"][0] for k, v in zip(labels, values, strict=True)]
    highs = [firsts[k]["images_per_second_ci"][1] - v for k, v in zip(labels, values, strict=True)]
    ax.bar(labels, values, yerr=[lows, highs], capsize=6, color="#4c72b0", label="median, 95% CI")
    for i, k in enumerate(labels):
        base = baselines.get(firsts[k]["workload_key"])
        if base:
            median = statistics.median(base["run_figures"] or base["images_per_second"])
            ax.hlines(median, i - 0.4, i + 0.4, colors="#dd8452", linestyles="--")
            ax.text(i, median, " baseline", color="#dd8452", fontsize=7, va="bottom")
    ax.set_ylabel("images/s")
    ax.set_title("Throughput per variant (first run of each)")
    ax.legend(loc="lower right", fontsize=8)
    return _png(fig)


def _shade_warmup(ax: Any, warmup: int) -> None:
    if warmup:
        ax.axvspan(0.5, warmup + 0.5, color="#cccccc", alpha=0.3)


def _step_times(plt: Any, firsts: dict[str, Any]) -> str:
    """The synchronous step (the slowest worker's), warm-up first."""
    fig, ax = plt.subplots(figsize=(6, 3.2))
    for label, run in firsts.items():
        workers = run["workers"]
        warm = [max(ts) for ts in zip(*(w["warmup_times_s"] for w in workers), strict=True)]
        times = warm + run["step_times_s"]
        ax.plot(range(1, len(times) + 1), times, marker="o", ms=3, label=label)
    first = next(iter(firsts.values()))
    _shade_warmup(ax, len(first["workers"][0]["warmup_times_s"]))
    from matplotlib.ticker import FormatStrFormatter, LogLocator, NullFormatter

    ax.set_yscale("log")  # a warm-up step can be 10x a measured one
    ax.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    ax.yaxis.set_major_formatter(FormatStrFormatter("%g"))
    ax.yaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("step (grey: warm-up, not measured)")
    ax.set_ylabel("seconds (log scale)")
    ax.set_title("Synchronous step time")
    ax.legend(fontsize=7)
    return _png(fig)


def _workers(plt: Any, firsts: dict[str, Any]) -> str:
    """Per worker and measured step: its own CPU time over (step wall time x its CPUs).

    A worker that computes the whole step sits near its threads' share; one that waits in
    the all-reduce for a straggler sits lower: the straggler is the one on top."""
    fig, ax = plt.subplots(figsize=(6, 3.2))
    for label, run in firsts.items():
        for w in run["workers"]:
            if not w.get("step_cpu_s"):
                continue
            n = max(1, len(w["cpus"]))
            share = [c / (t * n) for c, t in zip(w["step_cpu_s"], w["step_times_s"], strict=False)]
            ax.plot(
                range(1, len(share) + 1),
                share,
                marker="o",
                ms=3,
                label=f"{label} worker {w['rank']} (CPUs {w['cpus']})",
            )
    ax.set_ylim(bottom=0)
    ax.set_xlabel("measured step")
    ax.set_ylabel("CPU time / (wall x CPUs)")
    ax.set_title("Each worker's own work in the step")
    ax.legend(fontsize=7)
    return _png(fig)


def _losses(plt: Any, firsts: dict[str, Any], baselines: dict[str, Any]) -> str:
    fig, ax = plt.subplots(figsize=(6, 3.2))
    for label, run in firsts.items():
        steps = range(1, len(run["losses"]) + 1)
        ax.plot(steps, run["losses"], marker="o", ms=3, label=label)
        base = baselines.get(run["workload_key"])
        if base:
            b = base["losses"]
            band = [LOSS_ATOL + LOSS_RTOL * abs(x) for x in b]
            ax.fill_between(
                range(1, len(b) + 1),
                [x - d for x, d in zip(b, band, strict=True)],
                [x + d for x, d in zip(b, band, strict=True)],
                alpha=0.3,
                label=f"{label} baseline band",
            )
    first = next(iter(firsts.values()))
    _shade_warmup(ax, len(first["workers"][0]["warmup_times_s"]))
    ax.set_xlabel("step (grey: warm-up)")
    ax.set_ylabel("loss")
    ax.set_title("Loss curves")
    ax.legend(fontsize=8)
    return _png(fig)


def _speedup(plt: Any, s: dict[str, Any]) -> str:
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
    return _png(fig)


def trend_series(
    history: list[dict[str, Any]], slug: str
) -> tuple[list[str], dict[str, list[float | None]]]:
    """This machine's sessions (their start dates) and each series (variant images/s, and
    ``speedup``), ``None`` where a session lacks it."""
    same = [h for h in history if h.get("fingerprint") == slug]
    dates = [str(h.get("started", "?")).replace("T", " ").rstrip("Z")[:16] for h in same]
    names = sorted({p for h in same for p in h.get("images_per_second", {})})
    series: dict[str, list[float | None]] = {
        p: [h.get("images_per_second", {}).get(p) for h in same] for p in names
    }
    series["speedup"] = [h.get("speedup") for h in same]
    return dates, series


def _trend(plt: Any, dates: list[str], series: dict[str, list[float | None]]) -> str:
    fig, ax = plt.subplots(figsize=(6, 3.2))
    xs = list(range(len(dates)))
    for name, ys in series.items():
        if name == "speedup" or all(y is None for y in ys):
            continue
        values = [y if y is not None else float("nan") for y in ys]
        ax.plot(xs, values, marker="o", label=f"{name} images/s")
    if any(y is not None for y in series["speedup"]):
        ax2 = ax.twinx()
        values = [y if y is not None else float("nan") for y in series["speedup"]]
        ax2.plot(xs, values, "k--", marker="s", label="bf16 speedup")
        ax2.set_ylabel("speedup (x)")
    step = max(1, len(xs) // 8)  # at most about 8 date labels
    ax.set_xticks(xs[::step], dates[::step], rotation=30, ha="right", fontsize=7)
    ax.set_xlim(-0.5, len(xs) - 0.5)
    ax.set_xlabel("session start (UTC), this machine")
    ax.set_ylabel("images/s")
    ax.set_title(f"Trend over {len(xs)} session(s)")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8, loc="upper left")
    return _png(fig)


def plots(report: dict[str, Any], history: list[dict[str, Any]]) -> dict[str, str]:
    """Every plot the report has data for, by name (see :data:`TITLES`)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out: dict[str, str] = {}
    firsts = _firsts(report["runs"])
    if firsts:
        out["throughput"] = _throughput(plt, firsts, report["baselines"])
        out["step_times"] = _step_times(plt, firsts)
        if any(w.get("step_cpu_s") for run in firsts.values() for w in run["workers"]):
            out["workers"] = _workers(plt, firsts)
        out["loss"] = _losses(plt, firsts, report["baselines"])
    if report["speedup"]:
        out["speedup"] = _speedup(plt, report["speedup"])
    dates, series = trend_series(history, report["fingerprint"]["slug"])
    if dates:
        out["trend"] = _trend(plt, dates, series)
    return out
