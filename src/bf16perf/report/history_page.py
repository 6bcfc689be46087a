"""The history page: every series over time in one self-contained, offline HTML file.

Inline SVG and a few lines of JavaScript, nothing fetched: each series is a line of its
sessions (hover a point: its date, figure, versions and labels; click: its own report),
change points are marked with their shift and what changed, and a range slider zooms
every plot to the last N sessions of a long history.
"""

from __future__ import annotations

import html
import json
import os
from pathlib import Path
from urllib.parse import quote

from bf16perf.trend import Change, Series

__all__ = ["render_history_page"]

_W, _H, _PAD = 760, 220, 44
_CSS = """
body{font-family:system-ui,sans-serif;margin:2em;max-width:1000px;color:#222}
svg{background:#fafafa;border:1px solid #ddd;margin:.5em 0}
circle{fill:#4c72b0;cursor:pointer}circle:hover{fill:#dd8452;r:6}
line.cp{stroke:#c00;stroke-width:2;stroke-dasharray:4 3}
#info{position:fixed;right:1em;top:1em;max-width:360px;background:#fff;border:1px solid #aaa;
padding:.5em;font-size:13px;white-space:pre-wrap;display:none}
.change{color:#900}
"""
_JS = """
function showInfo(ev){var d=document.getElementById('info');
  d.textContent=ev.target.getAttribute('data-info');d.style.display='block';}
function hideInfo(){document.getElementById('info').style.display='none';}
function zoom(n){n=parseInt(n,10);document.querySelectorAll('svg.series').forEach(function(s){
  var total=parseInt(s.getAttribute('data-n'),10);var first=Math.max(0,total-n);
  var w=%(w)d,p=%(p)d;var span=Math.max(1,total-1-first);
  s.querySelectorAll('[data-i]').forEach(function(el){var i=parseInt(el.getAttribute('data-i'),10);
    var x=p+(i-first)*(w-2*p)/span;var hide=i<first;
    if(el.tagName==='circle'){el.setAttribute('cx',x);}else{x-=(w-2*p)/span/2;el.setAttribute('x1',x);el.setAttribute('x2',x);}
    el.style.display=hide?'none':'';});
  var poly=s.querySelector('polyline');var pts=[];
  s.querySelectorAll('circle').forEach(function(c){if(c.style.display!=='none'){pts.push(c.getAttribute('cx')+','+c.getAttribute('cy'));}});
  poly.setAttribute('points',pts.join(' '));});
  document.getElementById('zoomlabel').textContent='last '+n+' sessions';}
window.addEventListener('load',function(){document.querySelectorAll('circle').forEach(function(c){
  c.addEventListener('mouseover',showInfo);c.addEventListener('mouseout',hideInfo);});
  document.body.setAttribute('data-series',String(document.querySelectorAll('svg.series').length));
  document.body.setAttribute('data-changes',String(document.querySelectorAll('line.cp').length));});
""".replace("%(w)d", str(_W)).replace("%(p)d", str(_PAD))


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


def _svg(series: Series, found: list[Change], page_dir: Path) -> str:
    figs = series.figures
    n = len(figs)
    low, high = min(figs), max(figs)
    span = (high - low) or max(high * 0.05, 1e-9)
    low, high = low - 0.1 * span, high + 0.1 * span

    def xy(i: int, v: float) -> tuple[float, float]:
        x = _PAD + i * (_W - 2 * _PAD) / max(1, n - 1)
        y = _H - _PAD + (_PAD * 2 - _H) * (v - low) / (high - low)
        return x, y

    dots, coords = [], []
    for i, p in enumerate(series.points):
        x, y = xy(i, p.figure)
        coords.append(f"{x:.1f},{y:.1f}")
        meta = "\n".join(f"{k}: {v}" for k, v in sorted(p.meta.items()))
        info = f"{p.started}\n{p.figure:.4g} ({p.runs} runs)\n{meta}".strip()
        link = _link(p.report, page_dir)
        dot = (
            f'<circle data-i="{i}" cx="{x:.1f}" cy="{y:.1f}" r="4"'
            f' data-info="{html.escape(info)}"><title>{html.escape(info)}</title></circle>'
        )
        dots.append(f'<a href="{html.escape(link)}">{dot}</a>' if link else dot)
    marks = []
    for c in found:
        x, _ = xy(c.point.index, low)
        x -= (_W - 2 * _PAD) / max(1, n - 1) / 2
        marks.append(
            f'<line class="cp" data-i="{c.point.index}" x1="{x:.1f}" x2="{x:.1f}" y1="{_PAD / 2}"'
            f' y2="{_H - _PAD / 2}"><title>{html.escape(c.describe())}</title></line>'
        )
    axis = (
        f'<text x="4" y="{_PAD / 2 + 4}" font-size="11">{high:.4g}</text>'
        f'<text x="4" y="{_H - _PAD / 2}" font-size="11">{low:.4g}</text>'
        f'<text x="{_PAD}" y="{_H - 6}" font-size="11">'
        f"{html.escape(series.points[0].started)}</text>"
        f'<text x="{_W - _PAD}" y="{_H - 6}" font-size="11" text-anchor="end">'
        f"{html.escape(series.points[-1].started)}</text>"
    )
    return (
        f'<svg class="series" data-n="{n}" width="{_W}" height="{_H}" viewBox="0 0 {_W} {_H}">'
        f'{axis}<polyline fill="none" stroke="#4c72b0" points="{" ".join(coords)}"/>'
        f"{''.join(marks)}{''.join(dots)}</svg>"
    )


def render_history_page(
    all_series: dict[str, Series], found: dict[str, list[Change]], page: Path, source: Path
) -> str:
    """The page's HTML (``page``: where it will be written, for links to the reports)."""
    longest = max((len(s.points) for s in all_series.values()), default=1)
    blocks = []
    for key, series in sorted(all_series.items()):
        changes_here = found.get(key, [])
        notes = "".join(
            f'<li class="change">{html.escape(c.describe())}</li>' for c in changes_here
        )
        legacy = " (schema 1 lines: medians only)" if series.legacy else ""
        blocks.append(
            f"<h2>{html.escape(key)}{legacy}</h2><p>{len(series.points)} sessions; figure:"
            f" geometric mean of each session's run figures (images/s, or the ratio)</p>"
            f"{_svg(series, changes_here, page.parent)}<ul>{notes}</ul>"
        )
    data = json.dumps({k: len(v.points) for k, v in all_series.items()})
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="generator" content="bf16perf">
<title>bf16perf history</title>
<style>{_CSS}</style><script>{_JS}</script></head>
<body data-counts='{html.escape(data)}'>
<h1>bf16perf history</h1>
<p>From <code>{html.escape(str(source))}</code>. Hover a point for its versions and labels;
click it for its report. Dashed red lines: change points (hover for the shift and what
changed).</p>
<p><label>Zoom: <input type="range" min="2" max="{max(2, longest)}" value="{max(2, longest)}"
oninput="zoom(this.value)"></label> <span id="zoomlabel">all sessions</span></p>
{"".join(blocks) or "<p>No series: the history holds no readable line.</p>"}
<div id="info"></div>
</body></html>
"""
