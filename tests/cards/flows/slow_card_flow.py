"""Cards that take longer to render than their @card(timeout=...)."""

import time

from provider import FlowSpec, card, current, step
from provider.cards import MetaflowCardComponent


class Slow(MetaflowCardComponent):
    def render(self):
        time.sleep(3)
        return "<p>too late</p>"


class SlowCardFlow(FlowSpec):
    @card(type="blank", id="dropped", timeout=0.5, save_errors=False)
    @card(timeout=0.5)
    @step
    def start(self):
        current.card.append(Slow())
        current.card["dropped"].append(Slow())
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    SlowCardFlow()
