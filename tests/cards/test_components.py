"""Card components render to self-contained HTML: what was appended shows, nothing is fetched."""

from __future__ import annotations

import re

import pytest

from provider.cards import (
    Artifact,
    Error,
    Image,
    Markdown,
    MetaflowCardComponent,
    ProgressBar,
    Table,
    VegaChart,
)
from provider.cards.charts import vega_lite_svg
from provider.cards.components import render_component
from provider.cards.markdown import markdown_html
from provider.cards.page import card_page


def no_network(page: str) -> None:
    """Nothing in the page is loaded from elsewhere (SVG's namespace is a name, not a fetch)."""
    urls = re.findall(r"""(?:src|href)\s*=\s*["']?([^"' >]+)""", page)
    assert all(u.startswith(("data:", "#", "/?")) for u in urls), urls
    assert "<script" not in page
    assert "@import" not in page and "url(" not in page


def test_markdown_renders_and_escapes():
    out = markdown_html(
        "# Title\n\nSome **bold** and *it* with `x<1`.\n\n- one\n- two\n\n"
        "[ok](https://example.org) [bad](javascript:alert(1))\n\n<script>alert(1)</script>"
    )
    assert "<h1>Title</h1>" in out
    assert "<strong>bold</strong>" in out and "<em>it</em>" in out
    assert "<code>x&lt;1</code>" in out
    assert "<ul><li>one</li><li>two</li></ul>" in out
    assert '<a href="https://example.org">ok</a>' in out
    assert 'href="#">bad</a>' in out
    assert "<script>" not in out and "&lt;script&gt;" in out


def test_table_cells_values_and_components():
    table = Table([[1, 0.123456789, Markdown("**x**")], ["<b>", None, 3]], headers=["a", "b", "c"])
    out = table.render()
    assert "<th>a</th><th>b</th><th>c</th>" in out
    assert "<td>0.123457</td>" in out
    assert "<strong>x</strong>" in out
    assert "&lt;b&gt;" in out
    table.update([[9, 9, 9]])
    assert out != table.render() and table.render().count("<tr>") == 2


def test_table_from_a_dataframe_like_object():
    import pandas as pd

    frame = pd.DataFrame({"rate": [0.1, 0.01], "loss": [0.5, 0.25]})
    out = Table.from_dataframe(frame).render()
    assert "<th>rate</th>" in out and "<td>0.25</td>" in out


def test_image_bytes_become_a_data_uri_and_bad_bytes_show_an_error():
    png = bytes.fromhex("89504e470d0a1a0a") + b"rest"
    assert 'src="data:image/png;base64,' in Image(png, label="px").render()
    out = render_component(Image(b"not an image"))
    assert 'class="error"' in out and "not PNG, JPEG" in out
    with pytest.raises(TypeError, match="give image bytes"):
        Image(3.5)


def test_chart_is_svg_drawn_here_for_line_bar_and_series():
    points = [{"step": i, "loss": 1 / (i + 1), "run": "a" if i % 2 else "b"} for i in range(50)]
    line = vega_lite_svg({
        "mark": "line", "data": {"values": points},
        "encoding": {"x": {"field": "step", "type": "quantitative"},
                     "y": {"field": "loss", "type": "quantitative"},
                     "color": {"field": "run", "type": "nominal"}},
    })  # fmt: skip
    assert line.startswith("<svg") and line.count("<polyline") == 2 and ">a</text>" in line
    bars = vega_lite_svg({
        "mark": {"type": "bar"}, "data": {"values": [{"k": "x", "v": 3}, {"k": "y", "v": 5}]},
        "encoding": {"x": {"field": "k:N"}, "y": {"field": "v:Q"}},
    })  # fmt: skip
    assert bars.count("<rect") == 2
    unsupported = VegaChart({"mark": "arc", "data": {"values": []}}).render()
    assert "cannot be drawn in the card" in unsupported and "Vega-Lite spec" in unsupported
    no_network(card_page("t", "s", line + bars))


def test_an_altair_like_chart_is_read_through_to_dict():
    class Chart:
        def to_dict(self):
            return {
                "mark": "point",
                "data": {"values": [{"a": 1, "b": 2}, {"a": 2, "b": 1}]},
                "encoding": {"x": {"field": "a"}, "y": {"field": "b"}},
            }

    assert VegaChart.from_altair_chart(Chart()).render().count("<circle") == 2


def test_progress_bar_updates_and_error_and_artifact():
    bar = ProgressBar(max=10, label="epochs", unit="ep")
    bar.update(5, metadata="half way")
    out = bar.render()
    assert "5/10 ep" in out and "width:50.0%" in out and "half way" in out
    try:
        raise ValueError("boom")
    except ValueError as exc:
        err = Error(exc, "it broke").render()
    assert "it broke" in err and "ValueError: boom" in err
    art = Artifact({"k": "<v>"}, name="cfg").render()
    assert "cfg" in art and "&lt;v&gt;" in art


def test_a_broken_component_shows_its_error():
    class Broken(MetaflowCardComponent):
        def render(self):
            raise RuntimeError("nope")

    out = render_component(Broken())
    assert 'class="error"' in out and "Broken could not be rendered" in out
    assert "RuntimeError: nope" in out
    with pytest.raises(TypeError, match="cannot be updated"):
        Broken().update(1)


def test_card_page_is_one_document_and_refreshes_only_while_live():
    live = card_page("t", "s", "<p>x</p>", refresh_seconds=2)
    assert '<meta http-equiv="refresh" content="2">' in live
    final = card_page("t", "s", "<p>x</p>")
    assert "http-equiv" not in final and final.startswith("<!DOCTYPE html>")
    no_network(final)


def test_a_pil_image_and_a_matplotlib_figure_become_png_data_uris():
    from PIL import Image as PILImage

    pil = Image.from_pil_image(PILImage.new("RGB", (4, 3), "red"), label="red").render()
    assert 'src="data:image/png;base64,' in pil and "red" in pil
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots()
    axes.plot([1, 2, 3], [3, 1, 2])
    out = Image.from_matplotlib(figure).render()
    plt.close(figure)
    assert 'src="data:image/png;base64,' in out and 'class="error"' not in out
