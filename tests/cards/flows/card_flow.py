"""A flow with cards of every kind: default, blank with ids, a foreach, realtime updates,
a component that breaks, an Airflow DAG too."""

from provider import FlowSpec, Parameter, card, current, step
from provider.cards import (
    Artifact,
    Error,
    Image,
    Markdown,
    MetaflowCardComponent,
    ProgressBar,
    Table,
    VegaChart,
    get_cards,
)

# the smallest valid PNG (1x1)
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)


class Broken(MetaflowCardComponent):
    def render(self):
        raise RuntimeError("this component is broken on purpose")


class CardFlow(FlowSpec):
    rows = Parameter("rows", default=3, help="rows of the results table")

    @card
    @step
    def start(self):
        self.items = ["a", "b"]
        self.secret_size = 42
        current.card.append(Markdown("# Hello from *start*"))
        self.next(self.each, foreach="items")

    @card(type="blank", id="item")
    @step
    def each(self):
        current.card.append(Markdown(f"item **{self.input}**"))
        self.next(self.join)

    @step
    def join(self, inputs):
        current.card.append(Markdown("nowhere to go"))  # no @card: a warning, no failure
        self.next(self.end)

    @card(type="blank", id="results", refresh_interval=2)
    @card
    @step
    def end(self):
        bar = ProgressBar(max=4, label="epochs")
        current.card["results"].append(bar)
        losses = []
        for epoch in range(4):
            losses.append(1.0 / (epoch + 1))
            bar.update(epoch + 1)
        current.card["results"].refresh()
        live = get_cards(current.pathspec, id="results")
        self.live = [(c.final, "4/4" in c.html, 'http-equiv="refresh"' in c.html) for c in live]
        chart = {
            "title": "loss",
            "mark": "line",
            "data": {"values": [{"epoch": i, "loss": v} for i, v in enumerate(losses)]},
            "encoding": {
                "x": {"field": "epoch", "type": "quantitative"},
                "y": {"field": "loss", "type": "quantitative"},
            },
        }
        current.card["results"].extend(
            [
                Table([[i, i * i] for i in range(self.rows)], headers=["n", "n squared"]),
                VegaChart(chart),
                Image(PNG, label="a pixel"),
                Artifact({"best": 0.25}, name="summary"),
                Error(ValueError("shown, not raised")),
                Broken(),
            ]
        )
        current.card.append(Markdown("the default card's own note"))
        self.done = True


dag = CardFlow.to_dag()

if __name__ == "__main__":
    CardFlow()
