"""The history page: every series over time in one self-contained, offline HTML file.

Each series is drawn by matplotlib as inline SVG, as the report's plots are
(:func:`bf16perf.report.plots.svg`): real axes with ticks, units and a grid; a point a
session (hover: its date, figure, versions and labels; click: its own report); change
points as dashed red lines; the current level's usual scatter (the sessions since the last
change point: median +/- 2 robust standard deviations) as a grey band, and the threshold
below that median as a red dotted line; sessions the trend leaves out (ad-hoc A/B
candidates, self-tests with an injected slowdown) as hollow grey marks.  Each series is
drawn whole and at its last 30 and 10 sessions, so that zooming rescales the axes; a
selector shows one.  Nothing is fetched when the page is viewed.
"""

from __future__ import annotations

import html
import json
import os
import re
import statistics
from pathlib import Path
from typing import Any
from urllib.parse import quote

from bf16perf.report.plots import one_of_each, svg
from bf16perf.verdicts.trend import Change, Point, Series

__all__ = ["render_history_page", "series_title"]

ZOOMS = (30, 10)  # the last N sessions, besides all of them
_LINKED = 300  # per-point links and hover text for at most the last this many points
_CSS = """
body{font-family:system-ui,sans-serif;margin:2em;max-width:1000px;color:#222}
svg{max-width:100%;height:auto}figure{margin:.5em 0}.raw{color:#666;font-size:12px}
.change{color:#900}
"""
_JS = """
function zoom(v){document.querySelectorAll('figure.view').forEach(function(f){
  f.style.display=(f.getAttribute('data-last')===v)?'':'none';});}
window.addEventListener('load',function(){zoom('all');
  document.body.setAttribute('data-series',String(document.querySelectorAll('section.series').length));
  var all=document.querySelectorAll('figure.view[data-last="all"]');var cp=0,ticks=0;
  all.forEach(function(f){cp+=f.querySelectorAll('g[id*="-cp"]').length;
    if(f.querySelector('g[id*="ytick"]')){ticks+=1;}});
  document.body.setAttribute('data-changes',String(cp));
  document.body.setAttribute('data-axes',String(ticks));});
"""
_KEY = re.compile(
    r"(?P<model>.+?)-(?P<px>\d+)px-b(?P<b>\d+)-s(?P<s>\d+)-(?P<w>\d+)x(?P<c>\d+)-(?P<data>[a-z]+)"
    r"(?:-(?P<rest>.+))?$"
)


def _link(report: str | None, page_dir: Path) -> str | None:
    """A session's report as a link from the page: a relative path that stays under the
    page's directory (the reports directory), percent-encoded and starting with ``./``, so
    that no stored string becomes a ``javascript:`` or outside URL (#32); ``None`` (no
    link) for a report anywhere else."""
    if not report:
        return None
    base = os.path.abspath(page_dir)
    target = os.path.abspath(os.path.join(report, "report.html"))
    try:
        inside = os.path.commonpath([base, target]) == base
    except ValueError:
        inside = False
    if not inside:
        return None
    return "./" + quote(Path(os.path.relpath(target, base)).as_posix())


def series_title(series: Series) -> str:
    """A series in words: the variant, the workload and its shape, the machine."""
    name = series.key.removeprefix(f"{series.machine} ")
    ratio = name.endswith(" bf16/fp32")
    name = name.removesuffix(" bf16/fp32")
    found = _KEY.match(name)
    if found is None:
        what = f"bf16/fp32 speedup of {name}" if ratio else name
        return f"{what} on {series.machine}"
    g = found.groupdict()
    variant = "bf16/fp32 speedup" if ratio else (g["rest"] or "").replace("-", " ") or "run"
    return (
        f"{variant}: {g['model']} at {g['px']} px, batch {g['b']} a worker, {g['s']} measured"
        f" steps, {g['w']} workers x {g['c']} CPU{'' if g['c'] == '1' else 's'}, {g['data']} data,"
        f" on {series.machine}"
    )


def _level(points: list[Point], found: list[Change]) -> tuple[float, float]:
    """The current level's median and robust standard deviation (the sessions since the
    last change point, or all)."""
    start = max((c.point.index for c in found), default=0)
    figures = [p.figure for p in points[start:]] or [p.figure for p in points]
    median = statistics.median(figures)
    mad = statistics.median(abs(f - median) for f in figures)
    return median, 1.4826 * mad


def _info(p: Point) -> str:
    meta = "\n".join(f"{k}: {v}" for k, v in sorted(p.meta.items()))
    return f"{p.started}\n{p.figure:.4g} ({p.runs} runs)\n{meta}".strip()


def _view(
    series: Series, found: list[Change], side: list[Point], last: int | None, ctx: dict[str, Any]
) -> str:
    """One zoom of one series: its last ``last`` sessions (``None``: all) as SVG."""
    import matplotlib.pyplot as plt

    every = [(p.started, 0, p) for p in series.points] + [(p.started, 1, p) for p in side]
    timeline = sorted(every, key=lambda t: (t[0], t[1]))
    shown = timeline[-last:] if last else timeline
    fig, ax = plt.subplots(figsize=(8.5, 2.9))
    median, sd = _level(series.points, found)
    ax.axhspan(median - 2 * sd, median + 2 * sd, color="#999999", alpha=0.2,
               label="usual scatter (median ± 2 sd since the last change)")  # fmt: skip
    ax.axhline(median * (1 - ctx["threshold"]), color="#c0392b", ls=":",
               label=f"threshold (-{ctx['threshold']:.0%} of that median)")  # fmt: skip
    xs = {id(p): x for x, (_, _, p) in enumerate(shown)}
    mine = [(xs[id(p)], p) for _, kind, p in shown if kind == 0]
    label = "a session (hover: what it ran; click: its report)"
    ax.plot([x for x, _ in mine], [p.figure for _, p in mine], "-o", color="#4c72b0", lw=1,
            ms=4, label=label)  # fmt: skip
    for x, p in mine[-_LINKED:]:  # hover text and a link each, where a page can hold them
        gid = f"pt{ctx['count']}"
        ax.plot([x], [p.figure], "o", color="#4c72b0", ms=4, gid=gid,
                url=_link(p.report, ctx["page_dir"]))  # fmt: skip
        ctx["titles"][gid] = _info(p)
        ctx["count"] += 1
    lefts = [(xs[id(p)], p) for _, kind, p in shown if kind == 1]
    if lefts:
        ax.plot([x for x, _ in lefts], [p.figure for _, p in lefts], "o", mfc="none",
                color="#888888", label="A/B or self-test session (not in the trend)")  # fmt: skip
    for j, change in enumerate(found):
        at = xs.get(id(series.points[change.point.index]))
        if at is not None:
            ax.axvline(at - 0.5, color="#c0392b", ls="--", label="change point", gid=f"cp{j}")
            ctx["titles"][f"cp{j}"] = change.describe()
    step = max(1, len(shown) // 8)
    ticks = list(range(len(shown)))[::step]
    days = {started[:10] for started, _, _ in shown}
    when = [s[:16].replace("T", " ") if len(days) < len(shown) else s[:10] for s, _, _ in shown]
    ax.set_xticks(ticks, [when[t] for t in ticks], rotation=25, ha="right", fontsize=7)
    ratio = series.key.endswith(" bf16/fp32")
    ax.set_ylabel("bf16 / fp32 speedup (x)" if ratio else "images/s (geomean of its runs)")
    ax.set_xlabel("session (its start, UTC)")
    ax.grid(alpha=0.3)
    ax.legend(*one_of_each(ax), fontsize=7, loc="best")
    name = f"{ctx['name']}-{last or 'all'}"
    return _titled(svg(fig, name), name, ctx["titles"])


def _titled(markup: str, name: str, titles: dict[str, str]) -> str:
    """Hover text: each point's and change point's ``<title>`` inside its group."""
    for gid, text in titles.items():
        markup = markup.replace(
            f'<g id="{name}-{gid}">', f'<g id="{name}-{gid}"><title>{html.escape(text)}</title>', 1
        )
    titles.clear()
    return markup


def render_history_page(
    all_series: dict[str, Series],
    found: dict[str, list[Change]],
    page: Path,
    source: Path,
    *,
    left_out: dict[str, Series] | None = None,
    threshold: float = 0.05,
) -> str:
    """The page's HTML (``page``: where it will be written, for links to the reports)."""
    import matplotlib

    matplotlib.use("Agg")
    blocks = []
    for n, (key, series) in enumerate(sorted(all_series.items())):
        side = (left_out or {}).get(key)
        ctx: dict[str, Any] = {"name": f"s{n}", "threshold": threshold, "count": 0,
                               "page_dir": page.parent, "titles": {}}  # fmt: skip
        views = [(None, "all")] + [(z, str(z)) for z in ZOOMS if z < len(series.points)]
        figures = "".join(
            f'<figure class="view" data-last="{label}">'
            f"{_view(series, found.get(key, []), side.points if side else [], last, ctx)}</figure>"
            for last, label in views
        )
        notes = "".join(
            f'<li class="change">{html.escape(c.describe())}</li>' for c in found.get(key, [])
        )
        legacy = " (schema 1 lines: medians only)" if series.legacy else ""
        blocks.append(
            f'<section class="series"><h2>{html.escape(series_title(series))}{legacy}</h2>'
            f'<p class="raw">{html.escape(key)}: {len(series.points)} sessions</p>'
            f"{figures}<ul>{notes}</ul></section>"
        )
    data = json.dumps({k: len(v.points) for k, v in all_series.items()})
    options = "".join(f'<option value="{z}">last {z} sessions</option>' for z in ZOOMS)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="generator" content="bf16perf">
<title>bf16perf history</title>
<style>{_CSS}</style><script>{_JS}</script></head>
<body data-counts='{html.escape(data)}'>
<h1>bf16perf history</h1>
<p>From <code>{html.escape(str(source))}</code>. Each point is a session: hover for its
versions and labels, click for its report. Dashed red lines: change points (hover for the
shift and what changed).</p>
<p><label>Show: <select onchange="zoom(this.value)"><option value="all">all sessions</option>
{options}</select></label></p>
{"".join(blocks) or "<p>No series: the history holds no readable line.</p>"}
</body></html>
"""
