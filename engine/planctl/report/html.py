"""The evidence report as one self-contained HTML page: the same sections as the Markdown report and
two plots embedded as base64 PNGs: the roofline (``roofline.py``) and the latency distribution
(empirical CDF of every contender's samples, log-scaled milliseconds so a seconds-long baseline and a
milliseconds-long candidate share one axis). matplotlib is imported lazily through its object API
with the Agg canvas (no pyplot, no global backend switch), so rendering works headless and leaves
the caller's matplotlib state alone.
"""
from __future__ import annotations

import base64
import html
import io

import numpy as np

from planctl.report.roofline import roofline_plot_png
from planctl.report.sections import CONTENDERS, Section, Table, sections, title

_STYLE = """body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}
table{border-collapse:collapse;margin:.5rem 0 1rem}
th,td{border:1px solid #ccc;padding:.25rem .5rem;text-align:left}
th{background:#f3f3f3}.verdict{font-size:1.4rem;font-weight:bold}.promote{color:#176f2c}
.rollback,.unknown{color:#a61b1b}.inconclusive{color:#8a6d00}code{background:#f3f3f3;padding:0 .2rem}"""


def latency_plot_png(record: dict) -> bytes | None:
    """PNG bytes of the latency ECDF plot, or None when the record has no samples."""
    lat = record.get("latency") or {}
    series = {k: np.asarray(lat[k]["samples_ms"], float) for k in CONTENDERS
              if (lat.get(k) or {}).get("samples_ms")}
    series = {k: np.sort(v[np.isfinite(v) & (v > 0)]) for k, v in series.items()}
    series = {k: v for k, v in series.items() if v.size}
    if not series:
        return None
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    fig = Figure(figsize=(7, 3.5), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    for name, v in series.items():
        ax.step(v, np.arange(1, v.size + 1) / v.size, where="post", label=f"{name} (n={v.size})")
    ax.set(xscale="log", xlabel="latency (ms, log scale)", ylabel="fraction of calls ≤ x",
           title="latency distribution (empirical CDF)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="lower right")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def _table(t: Table) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in t.header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in t.rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _section(s: Section, plots: dict[str, bytes | None]) -> str:
    parts = [f"<h2>{html.escape(s.title)}</h2>"]
    if s.title == "Verdict":
        parts += [f'<p class="verdict {html.escape(p.lower())}">{html.escape(p)}</p>' for p in s.paragraphs]
    else:
        parts += [f"<p>{html.escape(p)}</p>" for p in s.paragraphs]
    if s.bullets:
        parts.append("<ul>" + "".join(f"<li>{html.escape(b)}</li>" for b in s.bullets) + "</ul>")
    parts += [_table(t) for t in s.tables]
    plot = plots.get(s.title)
    if plot:
        data = base64.b64encode(plot).decode("ascii")
        parts.append(f'<img alt="{html.escape(s.title.lower())} plot" src="data:image/png;base64,{data}">')
    return "\n".join(parts)


def render_html(record: dict) -> str:
    """A self-contained HTML page (inline CSS, plot as a data URI) of the sections of ``record``."""
    plots = {"Latency": latency_plot_png(record), "Roofline": roofline_plot_png(record.get("roofline"))}
    head = html.escape(title(record))
    body = "\n".join(_section(s, plots) for s in sections(record))
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{head}</title>'
            f"<style>{_STYLE}</style></head>\n<body><h1>{head}</h1>\n{body}\n</body></html>\n")
