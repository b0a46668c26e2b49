"""Vega-Lite specs drawn as SVG on the server: a card needs no script and no network.

Covers what steps report most: ``line``, ``point``/``circle``, ``bar`` and ``area`` marks
over inline ``data.values``, with ``x`` and ``y`` fields (quantitative, or nominal /
ordinal / temporal as categories), an optional ``color`` field that splits series, and a
``title``. ``layer`` specs draw each layer on shared axes. A spec outside that shows a
note and the spec itself rather than a wrong picture.
"""

from __future__ import annotations

import html
import json
import math
from typing import Any

WIDTH, HEIGHT = 640, 300
LEFT, RIGHT, TOP, BOTTOM = 56, 16, 28, 40
PALETTE = ("#4c78a8", "#f58518", "#e45756", "#72b7b2", "#54a24b", "#eeca3b", "#b279a2")
MARKS = ("line", "point", "circle", "bar", "area", "tick")


class UnsupportedSpec(ValueError):
    pass


def vega_lite_svg(spec: dict[str, Any]) -> str:
    """The chart as an SVG element (or a note with the spec when it cannot be drawn here)."""
    try:
        return _draw(spec)
    except UnsupportedSpec as exc:
        dumped = html.escape(json.dumps(spec, indent=1, default=str)[:4000])
        return (
            f'<div class="note">This chart cannot be drawn in the card: {html.escape(str(exc))}'
            f"</div><details><summary>Vega-Lite spec</summary><pre>{dumped}</pre></details>"
        )


def _mark(spec: dict[str, Any]) -> str:
    mark = spec.get("mark")
    kind = mark.get("type") if isinstance(mark, dict) else mark
    if kind not in MARKS:
        raise UnsupportedSpec(f"mark {kind!r} (drawn here: {', '.join(MARKS)})")
    return "point" if kind == "circle" else kind


def _field(encoding: dict[str, Any], channel: str) -> tuple[str | None, str]:
    enc = encoding.get(channel)
    if enc is None:
        return None, "quantitative"
    if not isinstance(enc, dict) or "field" not in enc:
        raise UnsupportedSpec(f"the {channel} encoding needs a field")
    kind = {"Q": "quantitative", "N": "nominal", "O": "ordinal", "T": "temporal"}
    name = str(enc["field"])
    if ":" in name and name[-1] in kind:  # Altair's shorthand "loss:Q"
        name, short = name.rsplit(":", 1)
        return name, kind[short]
    return name, str(enc.get("type", "quantitative"))


def _layers(spec: dict[str, Any]) -> list[dict[str, Any]]:
    if "layer" in spec:
        shared = {k: v for k, v in spec.items() if k not in ("layer", "title")}
        return [{**shared, **layer} for layer in spec["layer"]]
    return [spec]


def _values(spec: dict[str, Any]) -> list[dict[str, Any]]:
    data = spec.get("data") or {}
    values = data.get("values") if isinstance(data, dict) else None
    if not isinstance(values, list):
        raise UnsupportedSpec("only inline data (data.values) is drawn")
    return [v for v in values if isinstance(v, dict)]


def _nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    if high <= low:
        return [low]
    step = 10 ** math.floor(math.log10((high - low) / count))
    for factor in (1, 2, 5, 10):
        if (high - low) / (step * factor) <= count:
            step *= factor
            break
    first = math.ceil(low / step) * step
    return [first + i * step for i in range(int((high - first) / step + 1e-9) + 1)]


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _fmt(value: float) -> str:
    return f"{value:.4g}"


def _draw(spec: dict[str, Any]) -> str:
    layers = []
    for layer in _layers(spec):
        encoding = layer.get("encoding") or {}
        x, x_type = _field(encoding, "x")
        y, y_type = _field(encoding, "y")
        color, _ = _field(encoding, "color")
        if x is None or y is None:
            raise UnsupportedSpec("x and y encodings with fields are needed")
        if y_type != "quantitative":
            raise UnsupportedSpec("the y field must be quantitative")
        layers.append((_mark(layer), _values(layer), x, x_type, y, color))

    categorical = any(lay[3] != "quantitative" or lay[0] == "bar" for lay in layers)
    categories: list[str] = []
    xs: list[float] = []
    ys: list[float] = [0.0] if any(lay[0] in ("bar", "area") for lay in layers) else []
    for _, values, x, _, y, _ in layers:
        for row in values:
            if categorical:
                label = str(row.get(x))
                if label not in categories:
                    categories.append(label)
            elif (vx := _number(row.get(x))) is not None:
                xs.append(vx)
            if (vy := _number(row.get(y))) is not None:
                ys.append(vy)
    if not ys or (not categorical and not xs):
        raise UnsupportedSpec("the data has no numbers to draw")
    y_low, y_high = min(ys), max(ys)
    if y_high == y_low:
        y_low, y_high = y_low - 1, y_high + 1
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    band = plot_w / max(len(categories), 1)
    x_low, x_high = (min(xs), max(xs)) if xs else (0.0, 1.0)
    if x_high == x_low:
        x_low, x_high = x_low - 1, x_high + 1

    def sx(row_x: Any) -> float | None:
        if categorical:
            return LEFT + band * (categories.index(str(row_x)) + 0.5)
        value = _number(row_x)
        return None if value is None else LEFT + (value - x_low) / (x_high - x_low) * plot_w

    def sy(value: float) -> float:
        return TOP + plot_h - (value - y_low) / (y_high - y_low) * plot_h

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'width="{WIDTH}" height="{HEIGHT}" font-family="sans-serif" font-size="11">'
    ]
    title = spec.get("title")
    if isinstance(title, dict):
        title = title.get("text")
    if title:
        out.append(
            f'<text x="{LEFT}" y="16" font-size="13" font-weight="bold">'
            f"{html.escape(str(title))}</text>"
        )
    out.extend(_axes(layers, categorical, categories, band, sx, sy, x_low, x_high, y_low, y_high))
    series_names: list[str] = []
    for mark, values, x, _, y, color in layers:
        groups: dict[str, list[tuple[float, float]]] = {}
        for row in values:
            px, vy = sx(row.get(x)), _number(row.get(y))
            if px is None or vy is None:
                continue
            key = str(row.get(color)) if color else ""
            groups.setdefault(key, []).append((px, vy))
        for key, points in groups.items():
            if key not in series_names:
                series_names.append(key)
            tint = PALETTE[series_names.index(key) % len(PALETTE)]
            out.append(
                _series(
                    mark,
                    points,
                    tint,
                    sy,
                    band / max(len(groups), 1),
                    list(groups).index(key),
                    len(groups),
                )
            )
    if any(series_names):
        for i, name in enumerate(series_names):
            tint = PALETTE[i % len(PALETTE)]
            ly = TOP + 4 + 14 * i
            out.append(
                f'<rect x="{WIDTH - RIGHT - 110}" y="{ly}" width="10" height="10" '
                f'fill="{tint}"/><text x="{WIDTH - RIGHT - 96}" y="{ly + 9}">'
                f"{html.escape(name)}</text>"
            )
    out.append("</svg>")
    return "".join(out)


def _axes(
    layers: list[Any],
    categorical: bool,
    categories: list[str],
    band: float,
    sx: Any,
    sy: Any,
    x_low: float,
    x_high: float,
    y_low: float,
    y_high: float,
) -> list[str]:
    bottom, right = HEIGHT - BOTTOM, WIDTH - RIGHT
    parts = [
        f'<line x1="{LEFT}" y1="{bottom}" x2="{right}" y2="{bottom}" stroke="#888"/>',
        f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{bottom}" stroke="#888"/>',
    ]
    for tick in _nice_ticks(y_low, y_high):
        ty = sy(tick)
        parts.append(
            f'<line x1="{LEFT}" y1="{ty:.1f}" x2="{right}" y2="{ty:.1f}" '
            f'stroke="#eee"/><text x="{LEFT - 4}" y="{ty + 4:.1f}" '
            f'text-anchor="end">{_fmt(tick)}</text>'
        )
    if categorical:
        every = max(1, len(categories) // 12)
        for i, label in enumerate(categories[::every]):
            tx = LEFT + band * (i * every + 0.5)
            parts.append(
                f'<text x="{tx:.1f}" y="{bottom + 14}" text-anchor="middle">'
                f"{html.escape(label[:12])}</text>"
            )
    else:
        for tick in _nice_ticks(x_low, x_high, 8):
            tx = sx(tick)
            parts.append(
                f'<text x="{tx:.1f}" y="{bottom + 14}" text-anchor="middle">{_fmt(tick)}</text>'
            )
    x_name, y_name = layers[0][2], layers[0][4]
    parts.append(
        f'<text x="{(LEFT + right) / 2}" y="{HEIGHT - 6}" text-anchor="middle">'
        f"{html.escape(x_name)}</text>"
    )
    parts.append(
        f'<text transform="translate(12 {(TOP + bottom) / 2}) rotate(-90)" '
        f'text-anchor="middle">{html.escape(y_name)}</text>'
    )
    return parts


def _series(
    mark: str,
    points: list[tuple[float, float]],
    tint: str,
    sy: Any,
    width: float,
    slot: int,
    slots: int,
) -> str:
    if mark == "bar":
        base = sy(0.0)
        bar = width * 0.8
        offset = -width * slots / 2 + width * slot + width * 0.1
        return "".join(
            f'<rect x="{px + offset:.1f}" y="{min(sy(v), base):.1f}" width="{bar:.1f}" '
            f'height="{abs(base - sy(v)):.1f}" fill="{tint}"/>'
            for px, v in points
        )
    if mark in ("point", "tick"):
        return "".join(
            f'<circle cx="{px:.1f}" cy="{sy(v):.1f}" r="2.5" fill="{tint}"/>' for px, v in points
        )
    points = sorted(points)
    path = " ".join(f"{px:.1f},{sy(v):.1f}" for px, v in points)
    if mark == "area":
        base = sy(0.0)
        return (
            f'<polygon points="{points[0][0]:.1f},{base:.1f} {path} '
            f'{points[-1][0]:.1f},{base:.1f}" fill="{tint}" fill-opacity="0.4"/>'
        )
    return f'<polyline points="{path}" fill="none" stroke="{tint}" stroke-width="1.5"/>'
