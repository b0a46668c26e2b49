"""A flow whose middle step raises: its Airflow task fails and the log shows the traceback."""

from provider import FlowSpec, step


def check_threshold(value):
    if value > 10:
        raise ValueError(f"value {value} is over the threshold of 10")
    return value


class FailingStepFlow(FlowSpec):
    @step
    def start(self):
        self.value = 42
        self.next(self.check)

    @step
    def check(self):
        print("checking", self.value)
        check_threshold(self.value)
        self.next(self.end)

    @step
    def end(self):
        pass


dag = FailingStepFlow.to_dag()

if __name__ == "__main__":
    FailingStepFlow()
