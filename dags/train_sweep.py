"""Train one linear model per learning rate and keep the best (a parameterised foreach sweep).

The data is synthetic (y = 3x - 2 plus noise). Each learning rate trains in its
own task; the join picks the rate with the lowest validation loss. Inside each
task, ``parallel_map`` scores the model on data shards over all CPU cores. The
file is also an Airflow DAG.
"""

import random

from provider import FlowSpec, JSONType, Parameter, current, parallel_map, retry, step


def make_data(n, seed):
    rng = random.Random(seed)
    xs = [rng.uniform(-1, 1) for _ in range(n)]
    return [(x, 3.0 * x - 2.0 + rng.gauss(0, 0.1)) for x in xs]


def mse(w, b, rows):
    return sum((w * x + b - y) ** 2 for x, y in rows) / len(rows)


class TrainSweepFlow(FlowSpec):
    epochs = Parameter("epochs", default=30, help="passes of gradient descent over the data")
    samples = Parameter("samples", default=2000, help="number of synthetic examples")
    rates = Parameter("rates", default=[0.3, 0.1, 0.03, 0.01], type=JSONType, help="learning rates")

    @step
    def start(self):
        """Make the data set and fan out over the learning rates."""
        data = make_data(self.samples, seed=7)
        cut = int(0.8 * len(data))
        self.train_rows, self.valid_rows = data[:cut], data[cut:]
        self.learning_rates = list(self.rates)
        self.next(self.train, foreach="learning_rates")

    @retry(times=2, minutes_between_retries=0)
    @step
    def train(self):
        """Full-batch gradient descent for one learning rate."""
        rate, rows = self.input, self.train_rows
        w = b = 0.0
        for _ in range(self.epochs):
            gw = sum(2 * (w * x + b - y) * x for x, y in rows) / len(rows)
            gb = sum(2 * (w * x + b - y) for x, y in rows) / len(rows)
            w, b = w - rate * gw, b - rate * gb
        self.w, self.b = w, b
        shards = [self.valid_rows[i::4] for i in range(4)]
        losses = parallel_map(lambda shard: mse(w, b, shard) * len(shard), shards)
        self.valid_loss = sum(losses) / len(self.valid_rows)
        print(f"{current.pathspec}: rate={rate} w={w:.3f} b={b:.3f} loss={self.valid_loss:.4f}")
        self.next(self.choose)

    @step
    def choose(self, inputs):
        """Keep the model with the lowest validation loss."""
        best = min(inputs, key=lambda i: i.valid_loss)
        self.best_rate, self.w, self.b = best.input, best.w, best.b
        self.best_loss = best.valid_loss
        self.losses = {i.input: round(i.valid_loss, 6) for i in inputs}
        self.next(self.end)

    @step
    def end(self):
        """Report the winner."""
        line = f"y = {self.w:.3f} x + {self.b:.3f}"
        print(f"best rate {self.best_rate}: {line} (loss {self.best_loss:.4f})")


dag = TrainSweepFlow.to_dag()

if __name__ == "__main__":
    TrainSweepFlow()
