"""The report page: one self-contained ``report.html``, verdicts first, then the runs, each
worker, the plots and the machine as tables a person reads (the raw JSON stays in
``report.json``)."""

from __future__ import annotations

import html
from typing import Any

from bf16perf.onednn.peak import Peak, no_share_why
from bf16perf.report.plots import TITLES
from bf16perf.store.report_json import Report, ReportRun
from bf16perf.workloads.proof import proof_lines
from bf16perf.workloads.results import WorkerResult

__all__ = ["render_html"]

_CSS = """
body{font-family:system-ui,sans-serif;margin:2em;max-width:980px;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;
font-size:14px;text-align:left;vertical-align:top}.fail{background:#fdd}.ok{background:#dfd}
.note{background:#ffd}img,svg{max-width:100%;height:auto;display:block;margin:.5em 0}
figure{margin:1em 0}figcaption{font-weight:bold}code{font-size:13px}
td.num{text-align:right;font-variant-numeric:tabular-nums}
.bar{display:flex;width:600px;height:18px;border:1px solid #999}.bar span{height:100%}
.compute{background:#4a7}.communication{background:#d84}.rest{background:#88a}
"""
# After load: count the plots the browser drew with axis ticks, and those with a legend,
# for the browser test and for people.
_CHECK = """
window.addEventListener('load', function () {
  var figs = document.querySelectorAll('figure.plot');
  var drawn = 0, legends = 0;
  figs.forEach(function (f) {
    var s = f.querySelector('svg');
    if (s && s.getBBox().width > 0 && f.querySelector('g[id*="xtick"]')) { drawn += 1; }
    if (f.querySelector('g[id*="legend"]')) { legends += 1; }
  });
  document.body.setAttribute('data-plots', String(figs.length));
  document.body.setAttribute('data-plots-loaded', String(drawn));
  document.body.setAttribute('data-plots-legends', String(legends));
});
"""
e = html.escape


def _table(header: list[str], rows: list[str]) -> str:
    head = "".join(f"<th>{e(h)}</th>" for h in header)
    return f"<table><tr>{head}</tr>{''.join(rows)}</table>"


def _verdicts(report: Report) -> str:
    rows = []
    for d in report.decisions:
        notice = d.outcome in (
            "no baseline",
            "cannot tell",
            "suspect, unconfirmed",
            "notice, does not gate",
        )
        cls = "fail" if d.fails else ("note" if notice else "ok")
        rows.append(
            f'<tr class="{cls} verdict"><td>{e(d.test)}</td><td>{e(d.check)}</td>'
            f"<td>{e(d.outcome)}</td><td>{e(d.detail)}</td></tr>"
        )
    if not rows:
        return "<p>No verdicts were reached.</p>"
    return _table(["test", "check", "verdict", "detail"], rows)


def _speedup_text(report: Report) -> str:
    speed = report.speedup
    if not speed:
        return "no bf16/fp32 pair was measured"
    high = "inf" if speed["ci"][1] is None else f"{speed['ci'][1]:.3f}"
    return (
        f"bf16 speedup {speed['ratio']:.3f}x, {speed.get('confidence', 0.95):.1%} CI"
        f" [{speed['ci'][0]:.3f}, {high}] over {speed.get('pairs', '?')} interleaved pairs"
        f" of runs, gate {speed['gate']:.2f}x"
    )


def _runs(report: Report) -> str:
    rows = [
        f"<tr><td>{e(r.variant)}</td><td>{e(r.stack)}</td>"
        f'<td class="num">{r.figure:.2f}</td>'
        f'<td class="num">[{r.ci[0]:.2f}, {r.ci[1]:.2f}]</td>'
        f'<td class="num">{len(r.step_times_s)}</td><td class="num">{len(r.workers)}</td>'
        f"<td>{'<br>'.join(e(x) for x in proof_lines(r.kernels))}</td></tr>"
        for r in report.runs
    ]
    header = ["variant", "stack", "median images/s", "95% CI", "steps", "workers", "proof"]
    return _table(header, rows)


def _steps(report: Report) -> str:
    """Where each variant's step goes (its first run with a decomposition): a stacked bar of
    compute, communication and the rest, and the profile's parts; "not available" where
    the variant has no profile (never an empty bar)."""
    rows, seen = [], set()
    for r in report.candidate_runs():
        label = r.variant
        if label in seen:
            continue
        seen.add(label)
        split = r.decomposition
        if not split:
            rows.append(
                f"<tr><td>{e(label)}</td><td>profile not available</td><td></td><td></td></tr>"
            )
            continue
        step = split["step_s"] or 1.0
        bar = "".join(  # a negative part (signed, never clamped) has no width: its text says it
            f'<span class="{name}" style="width:{100 * max(split[key], 0.0) / step:.1f}%"'
            f' title="{name} {split[key]:+.3f} s"></span>'
            for name, key in (("compute", "compute_s"), ("communication", "comm_s"),
                              ("rest", "rest_s"))
        )  # fmt: skip
        parts = (r.proof.profile or {}).get("parts", [])
        top = sorted(parts, key=lambda p: -p["ms"])[:4]
        words = "; ".join(f"{p['name']} {p['ms']:.0f} ms" for p in top)
        comm = "all-reduce (timed)" if split.get("method") == "timed" else "communication"
        text = (
            f"step {split['step_s']:.3f} s: compute {split['compute_s']:.3f}, {comm}"
            f" {split['comm_s']:+.3f}, the rest {split['rest_s']:+.3f}"
        )
        rows.append(
            f'<tr><td>{e(label)}</td><td><div class="bar">{bar}</div>{e(text)}</td>'
            f"<td>{e(words)}</td><td>{e(_peak_words(r))}</td></tr>"
        )
    return _table(
        ["variant", "the median step", "oneDNN's largest parts (lone step)", "share of peak"],
        rows,
    )


def _peak_words(run: ReportRun) -> str:
    """The compute parts' share of the machine's peak, or why it is not available."""
    peak = (run.proof.profile or {}).get("peak") or {}
    shares = run.share_of_peak
    why = no_share_why(peak, shares)
    if why is not None:
        return f"not available: {why}"
    parts = "; ".join(
        f"{s['part']} {s['gflops']:.1f} GFLOP/s ({s['share']:.0%}"
        + (
            f", {s['hardware_share']:.0%} of the hardware's {s['hardware_gflops']:.0f}"
            if s.get("hardware_share") is not None
            else ""
        )
        + ")"
        for s in shares
    )
    return f"{parts}; {Peak.from_dict(peak).label()}"


def _workloads(report: Report) -> str:
    """What trained: each workload, how it ran, and its kernel proofs as the runs kept
    them ("not available" where the program printed no oneDNN output)."""
    rows = []
    for w in report.workloads:
        proofs = sorted(
            {
                f"{r.precision}: {(r.kernels or {}).get('message', 'n/a')}"
                for r in report.runs
                if r.workload == w["name"]
            }
        )
        command = " ".join(w["command"]) or "(the harness's own)"
        rows.append(
            f"<tr><td>{e(w['name'])}</td><td>{e(w['kind'])}</td><td>{e(w['format'] or '')}</td>"
            f"<td><code>{e(command)}</code></td><td>{e(w['source'])}</td>"
            f"<td>{'<br>'.join(e(p) for p in proofs) or 'no run'}</td></tr>"
        )
    return _table(["workload", "kind", "metrics", "command", "defined in", "kernel proof"], rows)


def _median(values: list[float]) -> float | None:
    ordered = sorted(values)
    if not ordered:
        return None
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def _fmt(value: float | None, spec: str) -> str:
    return "n/a" if value is None else format(value, spec)


def _window(w: WorkerResult) -> tuple[str, str]:
    """Foreign and steal shares of the worker's CPUs while it was measured."""
    win = w.window
    if win is None or win.window_s <= 0:
        return "n/a", "n/a"
    capacity = win.window_s * win.cpus
    foreign = max(0.0, win.busy_s - win.own_cpu_s) / capacity
    return f"{foreign:.0%}", f"{win.steal_s / capacity:.0%}"


def _workers(report: Report) -> str:
    """One row per worker of every run: where it ran, its step, its own work, what else ran
    on its CPUs.  The straggler is the worker with the highest busy share."""
    rows = []
    counts: dict[str, int] = {}
    for r in report.runs:
        label = r.label
        counts[label] = counts.get(label, 0) + 1
        for w in r.workers:
            foreign, steal = _window(w)
            rows.append(
                f'<tr class="worker" data-rank="{w.rank}"><td>{e(label)}</td>'
                f'<td class="num">{counts[label]}</td><td class="num">{w.rank}</td>'
                f"<td>{e(str(w.host))}</td><td>{e(','.join(map(str, w.cpus)))}</td>"
                f'<td class="num">{_fmt(_median(w.step_times_s), ".3f")}</td>'
                f'<td class="num">{_fmt(_median(w.step_cpu_s), ".3f")}</td>'
                f'<td class="num">{_fmt(w.busy_share, ".0%")}</td>'
                f'<td class="num">{foreign}</td><td class="num">{steal}</td></tr>'
            )
    header = ["variant", "run", "worker", "host", "CPUs", "median step s"]
    header += ["median CPU s", "busy share", "foreign", "steal"]
    return _table(header, rows)


def _machine(report: Report) -> str:
    fp, md = report.fingerprint, report.metadata
    proof = report.kernel_proof
    rows = [("kernel proof", proof["message"] if proof else "not run")]
    rows.append(("cluster", str(report.cluster.get("description", "not started"))))
    rows += [(k, str(v)) for k, v in fp.items() if v not in (None, "", [])]
    for key, value in md.items():
        if key == "threading_env":
            knobs = ", ".join(f"{k}={v}" for k, v in value.items()) or "(none set)"
            rows.append(("threading knobs", knobs))
        elif value not in (None, "", [], {}):
            rows.append((key, str(value)))
    body = [f"<tr><th>{e(k)}</th><td>{e(v)}</td></tr>" for k, v in rows]
    return f"<table>{''.join(body)}</table>"


def _history_link(link: str | None) -> str:
    if not link:
        return ""
    text = "History of this machine: every series and its change points"
    return f'<p><a id="history" href="{e(link)}">{text}</a></p>'


def _stopped(stopped: str | None) -> str:
    """Why the session ended badly: interrupted early, or which test failed first."""
    if not stopped:
        return ""
    label = "Stopped early" if stopped.startswith("interrupted") else "Failed"
    return f'<p class="fail">{label}: {e(stopped)}</p>'


def render_html(
    document: dict[str, Any], plots: dict[str, str], history_link: str | None = None
) -> str:
    """One self-contained page from the report dict and its plots."""
    report = Report.of(document)
    fp = report.fingerprint
    images = "".join(
        f'<figure class="plot" id="plot-{k}"><figcaption>{TITLES.get(k, k)}</figcaption>{v}'
        "</figure>"
        for k, v in plots.items() if k != "card"
    )  # fmt: skip
    card = plots.get("card")
    decision = (
        f'<figure class="plot card" id="plot-card"><figcaption>Did it get slower? Every'
        f" verdict's ratio, interval, threshold and detectable drop</figcaption>{card}</figure>"
        if card
        else ""
    )
    stopped = report.stopped_because
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="generator" content="bf16perf">
<title>bf16perf {e(fp["slug"])}</title>
<style>{_CSS}</style><script>{_CHECK}</script></head>
<body data-exit-code="{report.exit_code}">
<h1>bf16perf report</h1>
<p><b>{e(fp["model_name"] or fp["vendor"])}</b> &middot; capability {e(fp["capability"])}
&middot; <code>{e(fp["slug"])}</code> &middot; started {e(report.started)}
&middot; exit code {report.exit_code}</p>
{_stopped(stopped)}
{_history_link(history_link)}
{decision}
<h2>Verdicts</h2>{_verdicts(report)}
<p>{e(_speedup_text(report))}</p>
<h2>Runs</h2>{_runs(report)}
<h2>Where the step goes</h2>{_steps(report)}
<h2>Workloads</h2>{_workloads(report)}
<h2>Workers</h2>
<p>Each worker of each run: its median synchronous step, its own CPU time in a step, and
its busy share (CPU time over step time x its CPUs: the straggler is highest; a worker that
waits in the all-reduce is lower); foreign and steal: what other processes and the
hypervisor took from its CPUs while it was measured.</p>
{_workers(report)}
<h2>Plots</h2>{images or "<p>No run finished: nothing to plot.</p>"}
<h2>Machine</h2>{_machine(report)}
</body></html>
"""
