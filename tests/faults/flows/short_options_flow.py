"""Parameters whose names begin built-in switches: --n, --no and --not."""

from provider import FlowSpec, Parameter, step


class ShortOptionsFlow(FlowSpec):
    n = Parameter("n", default=1)
    no = Parameter("no", default=0)
    not_ = Parameter("not", default="")

    @step
    def start(self):
        self.got = {"n": self.n, "no": self.no, "not": self.not_}
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    ShortOptionsFlow()
