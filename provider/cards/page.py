"""A card as one self-contained HTML page: inline CSS, no script, nothing fetched.

:func:`card_page` wraps a card's body; :func:`default_card_body` is the body of
``@card``'s default type: the task, its parameters, its artifacts and the flow's steps
with this one highlighted. A realtime card (rendered while the task runs) reloads itself
every ``refresh_interval`` seconds: where it is served (the Airflow plugin, ``card server``)
by the ``Refresh`` header the server sends, since a sandboxed page's own
``<meta http-equiv="refresh">`` is refused by browsers; in a saved file by that meta tag.

Where a card is served, it is served with :data:`CARD_HEADERS`: sandboxed, so the page has
an origin of its own (not the server's: no cookies, no storage, no requests on the user's
behalf), no script of it runs (a component's raw ``<script>`` included), and it fetches
nothing; only its inline styles and ``data:`` images are allowed, which is all a card
rendered here uses. Links still work (they navigate the page).
"""

from __future__ import annotations

import html
import pprint
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from provider.flow.graph import FlowGraph

#: what a served card may do: its inline <style> and style attributes, images as data: URIs
CARD_POLICY = "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src data:"
#: the headers of every page the plugin and ``card server`` send (cards and their indexes)
CARD_HEADERS = {"Content-Security-Policy": CARD_POLICY, "X-Content-Type-Options": "nosniff"}

STYLE = """
body{font-family:-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;margin:0;
background:#f6f7f9;color:#1f2328;font-size:14px}
header{background:#24304a;color:#fff;padding:14px 24px}
header h1{font-size:18px;margin:0 0 4px}header .sub{opacity:.8;font-size:12px}
main{max-width:1100px;margin:0 auto;padding:16px 24px}
section.component{background:#fff;border:1px solid #dde1e6;border-radius:6px;
padding:12px 16px;margin:0 0 14px;overflow-x:auto}
h2{font-size:15px;margin:4px 0 10px}
table{border-collapse:collapse;font-size:13px}
th,td{border-bottom:1px solid #e6e8eb;padding:4px 10px;text-align:left;vertical-align:top}
th{background:#f0f2f5}.table-wrap{max-height:520px;overflow:auto}
pre{background:#f6f8fa;padding:8px;border-radius:4px;overflow-x:auto;margin:4px 0}
code{background:#f0f2f5;padding:1px 4px;border-radius:3px}
.error{border-left:4px solid #d1242f;padding-left:10px;color:#82071e}
.note{color:#6e7781;font-style:italic}.label{font-weight:600;margin-bottom:4px}
.progress .bar{background:#e6e8eb;border-radius:4px;height:12px;width:100%}
.progress .bar div{background:#2da44e;height:12px;border-radius:4px}
.progress .meta{color:#6e7781;margin-left:8px}
figure{margin:0}img{max-width:100%}figcaption{color:#6e7781;font-size:12px}
ol.graph{list-style:none;padding:0;margin:0}
ol.graph li{display:inline-block;margin:2px 4px;padding:4px 10px;border-radius:12px;
border:1px solid #b6c2d2;background:#f0f4fa}
ol.graph li.here{background:#24304a;color:#fff;border-color:#24304a;font-weight:600}
ol.graph li .to{opacity:.7;font-size:11px}
footer{color:#6e7781;font-size:11px;text-align:center;padding:12px}
"""


def card_page(title: str, subtitle: str, body: str, refresh_seconds: float | None = None) -> str:
    """The whole HTML document of a card."""
    refresh = (
        f'<meta http-equiv="refresh" content="{max(refresh_seconds, 1):g}">'
        if refresh_seconds
        else ""
    )
    stamp = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    state = "updating while the task runs" if refresh_seconds else "final"
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width">{refresh}'
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head><body>"
        f'<header><h1>{html.escape(title)}</h1><div class="sub">{html.escape(subtitle)}'
        f"</div></header><main>\n{body}\n</main>"
        f"<footer>airstep card, rendered {stamp} ({state})</footer></body></html>\n"
    )


@dataclass
class TaskFacts:
    """What the default card shows about a task."""

    pathspec: str
    attempt: int
    started_at: float
    finished_at: float | None
    graph: FlowGraph
    step: str
    parameters: dict[str, Any] = field(default_factory=dict)
    #: name -> (type name, value or None when it was not loaded)
    artifacts: dict[str, tuple[str, Any]] = field(default_factory=dict)


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    return (
        f'<div class="table-wrap"><table><thead><tr>{head}</tr></thead><tbody>{body}'
        "</tbody></table></div>"
    )


def _when(ts: float | None) -> str:
    if ts is None:
        return "(running)"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ts)) + f".{int(ts % 1 * 1000):03d} UTC"


def _short(value: Any, limit: int = 300) -> str:
    text = pprint.pformat(value, compact=True, width=100)
    return html.escape(text if len(text) <= limit else text[:limit] + " ...")


def graph_html(graph: FlowGraph, here: str) -> str:
    """The flow's steps in order, each with where it goes next; ``here`` highlighted."""
    items = []
    for node in graph:
        goes = ", ".join(node.out_funcs)
        kind = " (foreach)" if node.is_foreach else ""
        to = f' <span class="to">&rarr; {html.escape(goes)}</span>' if goes else ""
        css = ' class="here"' if node.name == here else ""
        items.append(f"<li{css}>{html.escape(node.name)}{kind}{to}</li>")
    return f'<ol class="graph">{"".join(items)}</ol>'


def default_card_body(facts: TaskFacts) -> str:
    """The sections of the default card (the step's own components follow them)."""
    duration = (
        f"{facts.finished_at - facts.started_at:.3f} s" if facts.finished_at is not None else ""
    )
    task = _table(
        ["task", "attempt", "started", "finished", "duration"],
        [
            [
                html.escape(facts.pathspec),
                str(facts.attempt),
                _when(facts.started_at),
                _when(facts.finished_at),
                duration,
            ]
        ],
    )
    sections = [f"<h2>Task</h2>{task}"]
    if facts.parameters:
        rows = [[html.escape(k), _short(v)] for k, v in sorted(facts.parameters.items())]
        sections.append(f"<h2>Parameters</h2>{_table(['name', 'value'], rows)}")
    rows = [
        [html.escape(name), html.escape(kind), "" if value is None else _short(value)]
        for name, (kind, value) in sorted(facts.artifacts.items())
        if not name.startswith("_")
    ]
    if rows:
        sections.append(f"<h2>Artifacts</h2>{_table(['name', 'type', 'value'], rows)}")
    sections.append(f"<h2>Flow</h2>{graph_html(facts.graph, facts.step)}")
    return "\n".join(f'<section class="component">{s}</section>' for s in sections)
