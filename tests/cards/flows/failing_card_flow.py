"""A step with a card that fails after appending to it."""

from provider import FlowSpec, card, current, step
from provider.cards import Markdown


class FailingCardFlow(FlowSpec):
    @card
    @step
    def start(self):
        current.card.append(Markdown("loaded **3** files"))
        current.card.refresh()
        if current.step_name == "start":
            raise ValueError("file 4 is corrupt")
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    FailingCardFlow()
