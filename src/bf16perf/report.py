"""Reports people read: ``report.json``, a self-contained ``report.html`` with plots, the
nightly history line, and the ``reports/latest`` link.

This module owns the files under ``reports/<timestamp>-<slug>/``.  It turns the session's
typed values into JSON only here, at the edge.  ``report.json`` follows
``schemas/report.schema.json`` (kept in the repo); :func:`append_history` appends one line
to the history file with ``O_APPEND`` under an ``flock``, so concurrent nightly jobs never
interleave or rewrite it.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import html
import io
import json
import os
import shutil
import statistics
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bf16perf.baselines import Baseline
from bf16perf.decisions import Decision
from bf16perf.machine import Machine
from bf16perf.stats import bootstrap_ratio
from bf16perf.workload.config import RunResult

__all__ = [
    "REPORT_SCHEMA_VERSION",
    "append_history",
    "build_report",
    "read_history",
    "render_html",
    "write_report",
]

REPORT_SCHEMA_VERSION = 1


def _run_dict(run: RunResult, workload_key: str) -> dict[str, Any]:
    config = asdict(run.config)
    config["precision"] = run.config.precision.value
    ips = run.images_per_second
    # the median's interval: a bootstrap of the ratio to a constant 1.0
    median, low, high = bootstrap_ratio(ips, [1.0]) if ips else (0.0, 0.0, 0.0)
    return {
        "variant": run.label,
        "stack": run.stack,
        "precision": run.config.precision.value,
        "workload_key": workload_key,
        "config": config,
        "median_images_per_second": median,
        "images_per_second_ci": [low, high],
        "images_per_second": ips,
        "step_times_s": run.step_times_s,
        "losses": run.losses,
        "wall_s": run.wall_s,
        "kernels": run.kernels,
        "workers": [asdict(w) for w in run.workers],
    }


def build_report(
    *,
    started: str,
    machine: Machine,
    runs: list[tuple[RunResult, str]],
    decisions: list[Decision],
    baselines: dict[str, Baseline],
    cluster: dict[str, Any],
    gate: dict[str, Any] | None,
    exit_code: int,
    stopped_because: str | None,
    reference: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Everything of a session as one JSON-ready dict (see the JSON Schema)."""
    return {
        "schema_version": REPORT_SCHEMA_VERSION,
        "started": started,
        "exit_code": exit_code,
        "stopped_because": stopped_because,
        "fingerprint": machine.fingerprint.to_dict(),
        "metadata": machine.metadata.to_dict(),
        "kernel_proof": machine.probe.to_dict() if machine.probe else None,
        "cluster": cluster,
        "runs": [_run_dict(r, key) for r, key in runs],
        "baselines": {
            key: {
                "path": str(b.path),
                "images_per_second": b.images_per_second,
                "run_figures": b.figures,
                "losses": b.losses,
                "saved_at": b.saved_at,
            }
            for key, b in baselines.items()
        },
        "speedup": gate,
        "reference": reference,
        "decisions": [
            {
                "test": d.test,
                "check": d.check,
                "outcome": d.outcome.value,
                "fails": d.outcome.fails,
                "detail": d.detail,
                "figures": d.figures,
            }
            for d in decisions
        ],
    }


def history_line(report: dict[str, Any], report_dir: Path) -> dict[str, Any]:
    """The one-line summary of a report kept in the history file."""
    medians: dict[str, float] = {}
    for run in report["runs"]:
        if run.get("stack", "candidate") != "candidate":
            continue  # A/B mode: the reference stack's runs are not this stack's history
        medians.setdefault(run.get("variant", run["precision"]), run["median_images_per_second"])
    return {
        "started": report["started"],
        "fingerprint": report["fingerprint"]["slug"],
        "exit_code": report["exit_code"],
        "images_per_second": medians,
        "speedup": report["speedup"]["ratio"] if report["speedup"] else None,
        "verdicts": sorted({d["outcome"] for d in report["decisions"]}),
        "report": str(report_dir),
    }


def append_history(path: Path, line: dict[str, Any]) -> None:
    """Append one JSON line: ``O_APPEND`` and an exclusive ``flock``; never rewrites."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = (json.dumps(line, sort_keys=True) + "\n").encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.write(fd, data)
        os.fsync(fd)
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def read_history(path: Path) -> list[dict[str, Any]]:
    """Every readable line of the history (a torn or foreign line is skipped)."""
    if not path.exists():
        return []
    out = []
    for raw in path.read_text(errors="replace").splitlines():
        with contextlib.suppress(json.JSONDecodeError):
            item = json.loads(raw)
            if isinstance(item, dict):
                out.append(item)
    return out


# -- plots -----------------------------------------------------------------------------------
def _png(fig: Any) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def _plots(report: dict[str, Any], history: list[dict[str, Any]]) -> dict[str, str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plots: dict[str, str] = {}
    runs = report["runs"]
    firsts: dict[str, dict[str, Any]] = {}
    for run in runs:
        label = run.get("variant", run["precision"])
        if run.get("stack", "candidate") != "candidate":
            label += " (reference)"
        firsts.setdefault(label, run)
    baselines = report["baselines"]

    if runs:
        fig, ax = plt.subplots(figsize=(6, 3.2))
        labels, values, errs_low, errs_high = [], [], [], []
        for p, run in firsts.items():
            labels.append(p)
            values.append(run["median_images_per_second"])
            low, high = run["images_per_second_ci"]
            errs_low.append(run["median_images_per_second"] - low)
            errs_high.append(high - run["median_images_per_second"])
        ax.bar(
            labels,
            values,
            yerr=[errs_low, errs_high],
            capsize=6,
            color="#4c72b0",
            label="this run (median, 95% CI)",
        )
        for i, p in enumerate(labels):
            base = baselines.get(firsts[p]["workload_key"])
            if base:
                ax.hlines(
                    statistics.median(base["images_per_second"]),
                    i - 0.4,
                    i + 0.4,
                    colors="#dd8452",
                    linestyles="--",
                    label="baseline median",
                )
        ax.set_ylabel("images/s")
        ax.set_title("Throughput per variant")
        ax.legend(loc="lower right", fontsize=8)
        plots["throughput"] = _png(fig)

        fig, ax = plt.subplots(figsize=(6, 3.2))
        for run in firsts.values():
            for w in run["workers"]:
                times = w["warmup_times_s"] + w["step_times_s"]
                ax.plot(
                    range(1, len(times) + 1),
                    times,
                    marker="o",
                    ms=3,
                    label=f"{run.get('variant', run['precision'])} rank {w['rank']}"
                    f" (CPUs {w['cpus']})",
                )
            ax.axvspan(
                0.5, len(run["workers"][0]["warmup_times_s"]) + 0.5, color="#cccccc", alpha=0.3
            )
        ax.set_yscale("log")
        ax.set_xlabel("step (grey: warm-up, not counted)")
        ax.set_ylabel("seconds")
        ax.set_title("Step time per worker")
        ax.legend(fontsize=7)
        plots["step_times"] = _png(fig)

        fig, ax = plt.subplots(figsize=(6, 3.2))
        for p, run in firsts.items():
            ax.plot(run["losses"], marker="o", ms=3, label=f"{p}")
            base = baselines.get(run["workload_key"])
            if base:
                b = base["losses"]
                band = [1e-3 + 1e-3 * abs(x) for x in b]
                ax.fill_between(
                    range(len(b)),
                    [x - d for x, d in zip(b, band, strict=True)],
                    [x + d for x, d in zip(b, band, strict=True)],
                    alpha=0.3,
                    label=f"{p} baseline band",
                )
        ax.set_xlabel("step")
        ax.set_ylabel("loss")
        ax.set_title("Loss curves")
        ax.legend(fontsize=8)
        plots["loss"] = _png(fig)

    if report["speedup"]:
        s = report["speedup"]
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
        ax.set_xlabel("speedup")
        ax.set_title("bf16 speedup against the release gate")
        ax.legend(fontsize=8)
        plots["speedup"] = _png(fig)

    same = [h for h in history if h.get("fingerprint") == report["fingerprint"]["slug"]]
    if same:
        fig, ax = plt.subplots(figsize=(6, 3.2))
        xs = list(range(1, len(same) + 1))
        seen = sorted({p for h in same for p in h.get("images_per_second", {})})
        for p in seen:
            ys = [h.get("images_per_second", {}).get(p) for h in same]
            if any(y is not None for y in ys):
                ax.plot(
                    xs,
                    [y if y is not None else float("nan") for y in ys],
                    marker="o",
                    label=f"{p} images/s",
                )
        sp = [h.get("speedup") for h in same]
        if any(y is not None for y in sp):
            ax2 = ax.twinx()
            ax2.plot(
                xs,
                [y if y is not None else float("nan") for y in sp],
                "k--",
                marker="s",
                label="bf16 speedup",
            )
            ax2.set_ylabel("speedup")
        ax.set_xlabel("run (history, this machine)")
        ax.set_ylabel("images/s")
        ax.set_title(f"Trend over {len(same)} runs")
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8, loc="upper left")
        plots["trend"] = _png(fig)
    return plots


# -- HTML ------------------------------------------------------------------------------------
_CSS = """
body{font-family:system-ui,sans-serif;margin:2em;max-width:980px;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;
font-size:14px;text-align:left;vertical-align:top}.fail{background:#fdd}.ok{background:#dfd}
.note{background:#ffd}img{max-width:100%;display:block;margin:1em 0}code{font-size:13px}
"""
# After load: count the plots that really decoded, for the browser test and for people.
_CHECK = """
window.addEventListener('load', function () {
  var imgs = document.querySelectorAll('img.plot');
  var ok = 0;
  imgs.forEach(function (i) { if (i.complete && i.naturalWidth > 0) { ok += 1; } });
  document.body.setAttribute('data-plots', String(imgs.length));
  document.body.setAttribute('data-plots-loaded', String(ok));
});
"""


def render_html(report: dict[str, Any], plots: dict[str, str]) -> str:
    """One self-contained page: verdicts first, then plots, machine and runs."""
    e = html.escape
    fp = report["fingerprint"]
    rows = []
    for d in report["decisions"]:
        cls = "fail" if d["fails"] else ("note" if d["outcome"] == "no baseline" else "ok")
        rows.append(
            f'<tr class="{cls} verdict"><td>{e(d["test"])}</td><td>{e(d["check"])}</td>'
            f"<td>{e(d['outcome'])}</td><td>{e(d['detail'])}</td></tr>"
        )
    verdicts = (
        "<table><tr><th>test</th><th>check</th><th>verdict</th><th>detail</th></tr>"
        + "".join(rows)
        + "</table>"
        if rows
        else "<p>No verdicts were reached.</p>"
    )
    run_rows = "".join(
        f"<tr><td>{e(r.get('variant', r['precision']))}</td>"
        f"<td>{r['median_images_per_second']:.2f}</td>"
        f"<td>[{r['images_per_second_ci'][0]:.2f}, {r['images_per_second_ci'][1]:.2f}]</td>"
        f"<td>{len(r['step_times_s'])}</td><td>{len(r['workers'])}</td>"
        f"<td>{e((r.get('kernels') or {}).get('message', 'n/a'))}</td></tr>"
        for r in report["runs"]
    )
    speed = report["speedup"]
    speed_text = "no bf16/fp32 pair was measured"
    if speed:
        high = "inf" if speed["ci"][1] is None else f"{speed['ci'][1]:.3f}"
        speed_text = (
            f"bf16 speedup {speed['ratio']:.3f}x, {speed.get('confidence', 0.95):.1%} CI"
            f" [{speed['ci'][0]:.3f}, {high}] over {speed.get('pairs', '?')} interleaved pairs"
            f" of runs, gate {speed['gate']:.2f}x"
        )
    titles = {
        "throughput": "Throughput",
        "step_times": "Step times",
        "loss": "Loss curves",
        "speedup": "bf16 speedup",
        "trend": "Trend",
    }
    images = "".join(
        f'<h3>{titles.get(k, k)}</h3><img class="plot" id="plot-{k}" alt="{titles.get(k, k)}"'
        f' src="data:image/png;base64,{v}">'
        for k, v in plots.items()
    )
    proof = report["kernel_proof"]
    stopped = report["stopped_because"]
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>bf16perf {e(fp["slug"])}</title>
<style>{_CSS}</style><script>{_CHECK}</script></head>
<body data-exit-code="{report["exit_code"]}">
<h1>bf16perf report</h1>
<p><b>{e(fp["model_name"] or fp["vendor"])}</b> &middot; capability {e(fp["capability"])}
&middot; <code>{e(fp["slug"])}</code> &middot; started {e(report["started"])}
&middot; exit code {report["exit_code"]}</p>
{f'<p class="fail">Stopped early: {e(stopped)}</p>' if stopped else ""}
<h2>Verdicts</h2>{verdicts}
<p>{e(speed_text)}</p>
<h2>Runs</h2>
<table><tr><th>variant</th><th>median images/s</th><th>95% CI</th><th>steps</th>
<th>workers</th><th>kernel proof</th></tr>{run_rows}</table>
<h2>Plots</h2>{images or "<p>No run finished: nothing to plot.</p>"}
<h2>Machine</h2>
<p>Kernel proof: {e(proof["message"]) if proof else "not run"}</p>
<p>Cluster: {e(str(report["cluster"].get("description", "not started")))}</p>
<pre>{e(json.dumps(report["metadata"], indent=1))}</pre>
</body></html>
"""


def _atomic_write(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.replace(tmp, path)


def write_report(
    report_dir: Path, report: dict[str, Any], history_path: Path, logs: list[Path]
) -> Path:
    """Write report.json and report.html, copy logs, append history, point ``latest``."""
    report_dir.mkdir(parents=True, exist_ok=True)
    _atomic_write(report_dir / "report.json", json.dumps(report, indent=1, sort_keys=True))
    line = history_line(report, report_dir)
    append_history(history_path, line)
    history = read_history(history_path)
    _atomic_write(report_dir / "report.html", render_html(report, _plots(report, history)))
    if logs:
        dest = report_dir / "logs"
        dest.mkdir(exist_ok=True)
        for log in logs:
            with contextlib.suppress(OSError):
                shutil.copy2(log, dest / log.name)
    latest = report_dir.parent / "latest"
    tmp_link = report_dir.parent / f".latest-{os.getpid()}"
    with contextlib.suppress(FileNotFoundError):
        tmp_link.unlink()
    tmp_link.symlink_to(report_dir.name)
    os.replace(tmp_link, latest)
    return report_dir
