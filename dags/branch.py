"""Compute statistics of a list on two parallel branches, then join them (an Airflow DAG).

The branches run as parallel processes locally and as parallel tasks in
Airflow; the join reads both results and carries the shared input over with
``merge_artifacts``.
"""

from provider import FlowSpec, step


class BranchFlow(FlowSpec):
    """Two branches over the same numbers, joined into one summary."""

    @step
    def start(self):
        """Pick the numbers."""
        self.numbers = [3, 1, 4, 1, 5, 9, 2, 6]
        self.next(self.total, self.extremes)

    @step
    def total(self):
        """Sum and mean."""
        self.sum = sum(self.numbers)
        self.mean = self.sum / len(self.numbers)
        self.next(self.join)

    @step
    def extremes(self):
        """Smallest and largest."""
        self.low, self.high = min(self.numbers), max(self.numbers)
        self.next(self.join)

    @step
    def join(self, inputs):
        """Combine both branches; ``numbers`` is the same on both, so it merges."""
        self.summary = {
            "sum": inputs.total.sum,
            "mean": inputs.total.mean,
            "range": [inputs.extremes.low, inputs.extremes.high],
        }
        self.merge_artifacts(inputs, include=["numbers"])
        self.next(self.end)

    @step
    def end(self):
        """Print the summary."""
        print(self.summary, "of", self.numbers)


dag = BranchFlow.to_dag()

if __name__ == "__main__":
    BranchFlow()
