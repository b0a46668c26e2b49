"""Say hello in three linear steps: the smallest flow, and an Airflow DAG.

Run it here with ``python dags/hello.py run --name you``; in Airflow's DAGs
folder it is the DAG ``HelloFlow`` with a ``name`` field in its trigger form.
"""

from provider import FlowSpec, Parameter, step


class HelloFlow(FlowSpec):
    """Greet someone, shout it, and print it."""

    name = Parameter("name", default="world", help="who to greet")

    @step
    def start(self):
        """Compose the greeting."""
        self.greeting = f"hello, {self.name}"
        self.next(self.shout)

    @step
    def shout(self):
        """Make it louder."""
        self.loud = self.greeting.upper() + "!"
        self.next(self.end)

    @step
    def end(self):
        """Print the result."""
        print(self.loud)


dag = HelloFlow.to_dag()

if __name__ == "__main__":
    HelloFlow()
