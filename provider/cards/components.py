"""What a step puts on a card: ``current.card.append(Markdown("# Results"))``.

The components of Metaflow's ``metaflow.cards``, each rendering itself to an HTML
fragment with no reference to anything outside the card (images are data URIs, charts
are SVG drawn here). ``update()`` changes a component in place; the next
``current.card.refresh()`` shows the change while the task runs.
"""

from __future__ import annotations

import base64
import html
import io
import pprint
import traceback
from collections.abc import Iterable, Sequence
from typing import Any

from provider.cards.charts import vega_lite_svg
from provider.cards.markdown import markdown_html

__all__ = [
    "Artifact",
    "Error",
    "Image",
    "Markdown",
    "MetaflowCardComponent",
    "ProgressBar",
    "Table",
    "VegaChart",
    "render_component",
]

#: how much of a value's repr a card shows
MAX_REPR = 2_000


class MetaflowCardComponent:
    """The base of every component (Metaflow's name, so user components subclass it as
    they do there): ``render()`` returns an HTML fragment."""

    def render(self) -> str:
        raise NotImplementedError

    def update(self, *args: Any, **kwargs: Any) -> None:
        raise TypeError(f"{type(self).__name__} cannot be updated; append a new one instead.")


def render_component(component: Any) -> str:
    """A component's HTML; a component that fails to render shows its error instead."""
    try:
        if isinstance(component, MetaflowCardComponent):
            return component.render()
        if isinstance(component, str):
            return Markdown(component).render()
        return Artifact(component).render()
    except Exception as exc:
        return Error(exc, f"{type(component).__name__} could not be rendered").render()


class Markdown(MetaflowCardComponent):
    """Text written in Markdown (headings, emphasis, code, lists, links)."""

    def __init__(self, text: str = "") -> None:
        self.text = text

    def update(self, text: str = "") -> None:
        self.text = text

    def render(self) -> str:
        return f'<div class="md">{markdown_html(str(self.text))}</div>'


class Artifact(MetaflowCardComponent):
    """A value shown as its (pretty-printed) repr."""

    def __init__(self, artifact: Any, name: str | None = None, compressed: bool = True) -> None:
        self.artifact = artifact
        self.name = name
        self.compressed = compressed

    def update(self, artifact: Any) -> None:
        self.artifact = artifact

    def render(self) -> str:
        text = pprint.pformat(self.artifact, compact=self.compressed, width=100)
        if len(text) > MAX_REPR:
            text = text[:MAX_REPR] + f" ... ({len(text) - MAX_REPR} more characters)"
        title = f'<div class="label">{html.escape(self.name)}</div>' if self.name else ""
        return f'<div class="artifact">{title}<pre>{html.escape(text)}</pre></div>'


class Table(MetaflowCardComponent):
    """Rows of cells; a cell is a value or another component. ``disable_updates`` makes
    ``update()`` refuse, for a table that must stay as it was appended."""

    def __init__(
        self,
        data: Sequence[Sequence[Any]] | None = None,
        headers: Sequence[str] | None = None,
        disable_updates: bool = False,
    ) -> None:
        self.data = [list(row) for row in (data or [])]
        self.headers = list(headers or [])
        self.disable_updates = disable_updates

    def update(self, data: Sequence[Sequence[Any]] | None = None) -> None:
        if self.disable_updates:
            raise TypeError("This Table was made with disable_updates=True; it cannot be updated.")
        self.data = [list(row) for row in (data or [])]

    @classmethod
    def from_dataframe(cls, dataframe: Any, truncate: bool = True) -> Table:
        """A pandas DataFrame as a table (the first 1,000 rows when ``truncate``)."""
        frame = dataframe.head(1000) if truncate else dataframe
        headers = [str(c) for c in frame.columns]
        return cls([list(row) for row in frame.itertuples(index=False)], headers=headers)

    def render(self) -> str:
        head = "".join(f"<th>{html.escape(str(h))}</th>" for h in self.headers)
        parts = ['<div class="table-wrap"><table>']
        if head:
            parts.append(f"<thead><tr>{head}</tr></thead>")
        parts.append("<tbody>")
        for row in self.data:
            parts.append("<tr>" + "".join(f"<td>{_cell(v)}</td>" for v in row) + "</tr>")
        parts.append("</tbody></table></div>")
        return "".join(parts)


def _cell(value: Any) -> str:
    if isinstance(value, MetaflowCardComponent):
        return render_component(value)
    if isinstance(value, float):
        return f"{value:.6g}"
    return html.escape(str(value))


_IMAGE_TYPES = (
    (b"\x89PNG", "image/png"),
    (b"\xff\xd8", "image/jpeg"),
    (b"GIF8", "image/gif"),
    (b"RIFF", "image/webp"),
    (b"<svg", "image/svg+xml"),
    (b"<?xml", "image/svg+xml"),
)


class Image(MetaflowCardComponent):
    """An image from bytes (PNG, JPEG, GIF, WebP, SVG), a PIL image, or a matplotlib figure."""

    def __init__(self, src: Any = None, label: str | None = None) -> None:
        self.src = _image_bytes(src) if src is not None else None
        self.label = label

    def update(self, image: Any, label: str | None = None) -> None:
        self.src = _image_bytes(image)
        if label is not None:
            self.label = label

    @classmethod
    def from_pil_image(cls, pilimage: Any, label: str | None = None) -> Image:
        return cls(pilimage, label)

    @classmethod
    def from_matplotlib(cls, plot: Any, label: str | None = None) -> Image:
        """A matplotlib figure (or axes) as a PNG image."""
        figure = getattr(plot, "figure", None) or plot
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", bbox_inches="tight")
        return cls(buffer.getvalue(), label)

    def render(self) -> str:
        if self.src is None:
            return '<div class="empty">(no image)</div>'
        kind = next((t for magic, t in _IMAGE_TYPES if self.src.lstrip().startswith(magic)), None)
        if kind is None:
            raise ValueError(
                "Image got bytes that are not PNG, JPEG, GIF, WebP or SVG; give the bytes of "
                "an image file, a PIL image, or use Image.from_matplotlib(figure)."
            )
        data = base64.b64encode(self.src).decode()
        label = f"<figcaption>{html.escape(self.label)}</figcaption>" if self.label else ""
        return f'<figure><img src="data:{kind};base64,{data}" alt="">{label}</figure>'


def _image_bytes(src: Any) -> bytes:
    if isinstance(src, bytes | bytearray | memoryview):
        return bytes(src)
    if hasattr(src, "save") and hasattr(src, "mode"):  # a PIL image
        buffer = io.BytesIO()
        src.save(buffer, format="PNG")
        return buffer.getvalue()
    if hasattr(src, "savefig") or hasattr(getattr(src, "figure", None), "savefig"):
        return Image.from_matplotlib(src).src or b""
    raise TypeError(
        f"Image got a {type(src).__name__}; give image bytes, a PIL image or a matplotlib figure."
    )


class VegaChart(MetaflowCardComponent):
    """A Vega-Lite chart (a spec dict or an Altair chart), drawn as SVG when the card renders:
    line, point, bar and area marks, with an optional color field for series.
    ``show_controls`` is accepted as in Metaflow; a card runs no script, so it has no
    controls to show."""

    def __init__(self, spec: Any, show_controls: bool = False) -> None:
        self.spec = _spec_dict(spec)

    @classmethod
    def from_altair_chart(cls, altair_chart: Any) -> VegaChart:
        return cls(altair_chart)

    def update(self, spec: Any = None) -> None:
        if spec is not None:
            self.spec = _spec_dict(spec)

    def render(self) -> str:
        return f'<div class="chart">{vega_lite_svg(self.spec)}</div>'


def _spec_dict(spec: Any) -> dict[str, Any]:
    if hasattr(spec, "to_dict"):  # an Altair chart
        spec = spec.to_dict()
    if not isinstance(spec, dict):
        raise TypeError(f"VegaChart got a {type(spec).__name__}; give a Vega-Lite spec dict.")
    return spec


class ProgressBar(MetaflowCardComponent):
    """How far a loop has come: ``bar.update(i)`` then ``current.card.refresh()``."""

    def __init__(
        self,
        max: float = 100,
        label: str | None = None,
        value: float = 0,
        unit: str | None = None,
        metadata: str | None = None,
    ) -> None:
        self.max = max
        self.label = label
        self.value = value
        self.unit = unit
        self.metadata = metadata

    def update(self, new_value: float, metadata: str | None = None) -> None:
        self.value = new_value
        if metadata is not None:
            self.metadata = metadata

    def render(self) -> str:
        share = 0.0 if not self.max else min(max(self.value / self.max, 0.0), 1.0)
        unit = f" {self.unit}" if self.unit else ""
        text = f"{self.value:g}/{self.max:g}{unit}"
        label = html.escape(self.label or "")
        meta = f'<span class="meta">{html.escape(self.metadata)}</span>' if self.metadata else ""
        return (
            f'<div class="progress"><div class="label">{label} <span>{html.escape(text)}</span>'
            f'{meta}</div><div class="bar"><div style="width:{share * 100:.1f}%"></div></div>'
            "</div>"
        )


class Error(MetaflowCardComponent):
    """An exception, with its traceback, shown in red."""

    def __init__(self, exception: BaseException, title: str | None = None) -> None:
        self.exception = exception
        self.title = title

    def render(self) -> str:
        exc = self.exception
        text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        title = html.escape(self.title or f"{type(exc).__name__}: {exc}")
        return f'<div class="error"><strong>{title}</strong><pre>{html.escape(text)}</pre></div>'


def components_html(components: Iterable[Any]) -> str:
    """The HTML of components, one section each."""
    return "\n".join(
        f'<section class="component">{render_component(c)}</section>' for c in components
    )
