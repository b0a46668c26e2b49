"""A grid search as a nested foreach with a multi-step body (an Airflow DAG).

For every model size, and for every learning rate within it, two steps run:
``fit`` then ``score``. The inner join keeps the best rate of each size, the
outer join the best size. In Airflow the inner body is a mapped task over all
(size, rate) pairs; each task's map index shows its item.
"""

from provider import FlowSpec, Parameter, step


class NestedForeachFlow(FlowSpec):
    """Grid search: sizes x learning rates, fit then score, best per size, best overall."""

    sizes = Parameter("sizes", default=[1, 2, 3], help="model sizes (outer foreach)")

    @step
    def start(self):
        """Fan out over model sizes."""
        self.size_list = list(self.sizes)
        self.next(self.per_size, foreach="size_list")

    @step
    def per_size(self):
        """Fan out over learning rates for one size."""
        self.size = self.input
        self.rates = [0.1, 0.01]
        self.next(self.fit, foreach="rates")

    @step
    def fit(self):
        """A stand-in for training: a deterministic 'weight'."""
        self.rate = self.input
        self.weight = round(self.size * 10 * self.rate, 6)
        self.next(self.score)

    @step
    def score(self):
        """Score the fitted weight (lower is better)."""
        self.loss = round(abs(self.weight - 0.5) + 0.01 * self.size, 6)
        self.next(self.best_rate)

    @step
    def best_rate(self, inputs):
        """Keep the best rate of this size."""
        best = min(inputs, key=lambda i: i.loss)
        self.size = inputs[0].size
        self.rate, self.loss = best.rate, best.loss
        self.tried = [(i.rate, i.loss) for i in inputs]
        self.next(self.best_size)

    @step
    def best_size(self, inputs):
        """Keep the best size overall."""
        best = min(inputs, key=lambda i: i.loss)
        self.best = {"size": best.size, "rate": best.rate, "loss": best.loss}
        self.grid = {i.size: i.tried for i in inputs}
        self.next(self.end)

    @step
    def end(self):
        """Report the winner."""
        print("best", self.best)


dag = NestedForeachFlow.to_dag()

if __name__ == "__main__":
    NestedForeachFlow()
