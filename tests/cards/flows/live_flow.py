"""A step whose card is refreshed while it runs, then waits until told to finish."""

import os
import time

from provider import FlowSpec, Parameter, card, current, step
from provider.cards import Markdown, ProgressBar


class LiveFlow(FlowSpec):
    release = Parameter("release", help="the step finishes once this file exists")

    @card(type="blank", refresh_interval=1)
    @step
    def start(self):
        bar = ProgressBar(max=3, label="epochs")
        current.card.append(bar)
        bar.update(1)
        current.card.refresh()
        deadline = time.time() + 60
        while not os.path.exists(self.release) and time.time() < deadline:
            time.sleep(0.1)
        bar.update(3)
        current.card.append(Markdown("**finished**"))
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    LiveFlow()
