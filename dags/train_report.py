"""Train a small logistic-regression classifier per learning rate and report each run on a card
(a loss curve and a results table), viewable from the task's "Card" link in Airflow.

Pure Python and synthetic data: two Gaussian blobs. Each learning rate trains in its own
task, whose card shows its training loss per epoch, updated while it trains; the join's card
compares them. The file is also an Airflow DAG.
"""

import math
import random

from provider import FlowSpec, JSONType, Parameter, card, current, step
from provider.cards import Markdown, ProgressBar, Table, VegaChart


def make_data(n, seed):
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        label = i % 2
        center = (1.0, 1.0) if label else (-1.0, -0.5)
        rows.append(((rng.gauss(center[0], 0.9), rng.gauss(center[1], 0.9)), label))
    return rows


def predict(w, b, x):
    z = w[0] * x[0] + w[1] * x[1] + b
    return 1.0 / (1.0 + math.exp(-max(min(z, 30.0), -30.0)))


def log_loss(w, b, rows):
    eps = 1e-9
    total = 0.0
    for x, y in rows:
        p = predict(w, b, x)
        total -= y * math.log(p + eps) + (1 - y) * math.log(1 - p + eps)
    return total / len(rows)


def accuracy(w, b, rows):
    return sum((predict(w, b, x) > 0.5) == bool(y) for x, y in rows) / len(rows)


def loss_chart(title, points):
    return VegaChart({
        "title": title,
        "mark": "line",
        "data": {"values": points},
        "encoding": {
            "x": {"field": "epoch", "type": "quantitative"},
            "y": {"field": "loss", "type": "quantitative"},
            "color": {"field": "rate", "type": "nominal"},
        },
    })  # fmt: skip


class TrainReportFlow(FlowSpec):
    epochs = Parameter("epochs", default=40, help="passes of gradient descent over the data")
    rates = Parameter("rates", default=[1.0, 0.3, 0.05], type=JSONType, help="learning rates")

    @card
    @step
    def start(self):
        """Make the data set and fan out over the learning rates."""
        data = make_data(600, seed=11)
        self.train_rows, self.valid_rows = data[:480], data[480:]
        self.learning_rates = list(self.rates)
        current.card.append(
            Markdown(f"**{len(data)}** examples, two classes; rates {self.learning_rates}")
        )
        self.next(self.train, foreach="learning_rates")

    @card(type="blank", refresh_interval=2)
    @step
    def train(self):
        """Full-batch gradient descent for one learning rate; the card follows the loss."""
        rate, rows = self.input, self.train_rows
        current.card.append(Markdown(f"# Training with learning rate {rate}"))
        progress = ProgressBar(max=self.epochs, label="epochs")
        current.card.append(progress)
        w, b = [0.0, 0.0], 0.0
        self.curve = []
        for epoch in range(self.epochs):
            gw, gb = [0.0, 0.0], 0.0
            for x, y in rows:
                err = predict(w, b, x) - y
                gw = [gw[0] + err * x[0], gw[1] + err * x[1]]
                gb += err
            w = [w[0] - rate * gw[0] / len(rows), w[1] - rate * gw[1] / len(rows)]
            b -= rate * gb / len(rows)
            self.curve.append({"epoch": epoch + 1, "loss": log_loss(w, b, rows), "rate": str(rate)})
            progress.update(epoch + 1)
            current.card.refresh()
        self.w, self.b = w, b
        self.valid_loss = log_loss(w, b, self.valid_rows)
        self.valid_accuracy = accuracy(w, b, self.valid_rows)
        current.card.append(loss_chart(f"training loss, rate {rate}", self.curve))
        current.card.append(Table(
            [["validation loss", f"{self.valid_loss:.4f}"],
             ["validation accuracy", f"{self.valid_accuracy:.1%}"],
             ["weights", f"w = ({w[0]:.3f}, {w[1]:.3f}), b = {b:.3f}"]],
            headers=["metric", "value"],
        ))  # fmt: skip
        print(f"{current.pathspec}: rate={rate} loss={self.valid_loss:.4f}")
        self.next(self.choose)

    @card(type="blank", id="results")
    @step
    def choose(self, inputs):
        """Keep the model with the lowest validation loss; compare them all on the card."""
        best = min(inputs, key=lambda i: i.valid_loss)
        self.best_rate, self.w, self.b = best.input, best.w, best.b
        self.best_loss = best.valid_loss
        ranked = sorted(inputs, key=lambda i: i.valid_loss)
        current.card["results"].extend([
            Markdown(f"# Results\n\nBest learning rate: **{self.best_rate}** "
                     f"(validation loss {self.best_loss:.4f})"),
            loss_chart("training loss per epoch", [p for i in inputs for p in i.curve]),
            Table(
                [[i.input, f"{i.valid_loss:.4f}", f"{i.valid_accuracy:.1%}"] for i in ranked],
                headers=["learning rate", "validation loss", "validation accuracy"],
            ),
        ])  # fmt: skip
        self.next(self.end)

    @step
    def end(self):
        """Report the winner."""
        print(f"best rate {self.best_rate} (validation loss {self.best_loss:.4f})")


dag = TrainReportFlow.to_dag()

if __name__ == "__main__":
    TrainReportFlow()
