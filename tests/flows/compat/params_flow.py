"""Parameters of every kind, given on the command line, and `current` inside steps."""

from provider import FlowSpec, IncludeFile, JSONType, Parameter, current, step


def facts():
    return {
        "flow_name": current.flow_name,
        "run_id": current.run_id,
        "step_name": current.step_name,
        "pathspec": current.pathspec,
        "retry_count": current.retry_count,
        "origin_run_id": current.origin_run_id,
        "is_running_flow": current.is_running_flow,
        "parameter_names": sorted(current.parameter_names),
        # without @project, current has no project names (an AttributeError)
        "has_project_name": hasattr(current, "project_name"),
    }


class ParamsFlow(FlowSpec):
    greeting = Parameter("greeting", default="hello")
    count = Parameter("count", default=2)
    ratio = Parameter("ratio", default=0.5)
    untyped = Parameter("untyped", default=None)
    quietly = Parameter("quietly", default=False)
    b1 = Parameter("b1", type=bool, default=False)
    b2 = Parameter("b2", type=bool, default=False)
    b3 = Parameter("b3", type=bool, default=False)
    b4 = Parameter("b4", type=bool, default=True)
    b5 = Parameter("b5", type=bool, default=True)
    b6 = Parameter("b6", type=bool, default=True)
    letters = Parameter("letters", default="x", separator=";")
    config = Parameter("config", type=JSONType, default='{"a": 1}')
    defaults = Parameter("defaults", type=JSONType, default='{"a": [1, 2]}')
    token = Parameter("token", required=True)
    notes = IncludeFile("notes", help="a text file")

    @step
    def start(self):
        self.types = {name: type(getattr(self, name)).__name__ for name in current.parameter_names}
        self.start_facts = facts()
        self.next(self.end)

    @step
    def end(self):
        self.end_facts = facts()


if __name__ == "__main__":
    ParamsFlow()
