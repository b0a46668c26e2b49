"""Parameters of every type, an IncludeFile, and a linear chain of steps."""

from provider import FlowSpec, IncludeFile, JSONType, Parameter, current, step


class ParamsFlow(FlowSpec):
    name = Parameter("name", default="world", help="who to greet")
    count = Parameter("count", default=2, help="how many")
    ratio = Parameter("ratio", default=0.5)
    loud = Parameter("loud", default=False, type=bool)
    config = Parameter("config", default={"a": 1}, type=JSONType)
    token = Parameter("token", required=True, help="must be given")
    notes = IncludeFile("notes", default="notes.txt", help="a text file")

    @step
    def start(self):
        self.greeting = f"hello {self.name}" + ("!" if self.loud else "")
        self.info = {"run": current.run_id, "pathspec": current.pathspec}
        self.next(self.middle)

    @step
    def middle(self):
        self.values = [self.count * self.ratio, self.config, self.token, self.notes.strip()]
        self.next(self.end)

    @step
    def end(self):
        print(self.greeting, self.values)


if __name__ == "__main__":
    ParamsFlow()
