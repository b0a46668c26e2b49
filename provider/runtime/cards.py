"""The cards of a running task: ``current.card`` while the step runs, rendered and stored
after it (and on ``current.card.refresh()``), in every executor alike.

Nothing here fails the task: a component that cannot render shows its error on the card,
a card that cannot render (or takes longer than its ``@card(timeout=...)``) is stored as a
card that says why, and a card that cannot be stored is reported on stderr.
"""

from __future__ import annotations

import contextlib
import sys
import threading
import time
import traceback
from collections.abc import Iterator
from typing import Any

from provider.cards.collector import CardCollector, CardSection
from provider.cards.components import Error, components_html
from provider.cards.page import TaskFacts, card_page, default_card_body
from provider.cards.store import save_cards
from provider.datastore.flowstore import FlowDataStore
from provider.datastore.records import CardEntry
from provider.decorators.card import step_cards
from provider.flow.current import current
from provider.flow.graph import StepNode
from provider.flow.spec import FlowSpec
from provider.flow.state import TaskState
from provider.runtime.request import TaskRequest


class TaskCardRenderer:
    """Renders the cards of one task from its flow instance and its state."""

    def __init__(
        self,
        flow: FlowSpec,
        node: StepNode,
        request: TaskRequest,
        store: FlowDataStore,
        state: TaskState,
        started: float,
    ) -> None:
        self.flow = flow
        self.node = node
        self.request = request
        self.store = store
        self.state = state
        self.started = started
        self.pathspec = store.task_key(request.run_id, node.name, request.task_id).pathspec
        #: what the step raised, shown on its default card
        self.failure: Exception | None = None

    def facts(self, finished: float | None) -> TaskFacts:
        artifacts: dict[str, tuple[str, Any]] = {
            name: (entry.type, None) for name, entry in self.state.inherited.items()
        }
        for name, value in self.flow._artifact_items():
            artifacts[name] = (type(value).__name__, value)
        parameters = {}
        for name in self.state.parameter_names:
            try:
                parameters[name] = getattr(self.flow, name)
            except Exception as exc:  # an unreadable parameter is shown as such
                parameters[name] = f"<unreadable: {exc}>"
        return TaskFacts(
            pathspec=self.pathspec,
            attempt=self.request.attempt,
            started_at=self.started,
            finished_at=finished,
            graph=type(self.flow).graph(),
            step=self.node.name,
            parameters=parameters,
            artifacts=artifacts,
        )

    def page(self, section: CardSection, final: bool) -> str:
        spec = section.spec
        body = components_html(list(section.components))
        if spec.type == "default":
            failed = ""
            if self.failure is not None:
                error = Error(self.failure, f"The step failed: {self.failure!r}").render()
                failed = f'<section class="component">{error}</section>\n'
            facts = default_card_body(self.facts(time.time() if final else None))
            body = failed + facts + "\n" + body
        elif not section.components:
            body = '<section class="component"><p class="note">This card is empty.</p></section>'
        title = f"{self.pathspec}" + (f" \u00b7 {spec.id}" if spec.id else "")
        subtitle = f"{spec.type} card, attempt {self.request.attempt}"
        refresh = None if final else spec.refresh_interval
        return card_page(title, subtitle, body, refresh)

    def render(self, collector: CardCollector, final: bool) -> None:
        """Render every card of the step and store them; never raises."""
        cards = []
        for section in collector.sections:
            page = _with_timeout(lambda s=section: self.page(s, final), section.spec.timeout)
            if isinstance(page, BaseException) and not section.spec.save_errors:
                print(
                    f"Warning: the {section.spec.type} card of {self.pathspec} could not be "
                    f"rendered and is left out (save_errors=False): {page}",
                    file=sys.stderr,
                )
                continue
            if isinstance(page, BaseException):
                body = Error(page, f"The {section.spec.type} card could not be rendered").render()
                page = card_page(
                    self.pathspec, "card error", f'<section class="component">{body}</section>'
                )
            entry = CardEntry(
                section.spec.type,
                section.spec.id,
                "",
                final,
                section.spec.refresh_interval,
                time.time(),
            )
            cards.append((entry, page))
        try:
            save_cards(self.store, self.request.run_id, self.node.name, self.request.task_id, cards)
        except Exception:
            print(
                f"Warning: the cards of {self.pathspec} could not be stored:\n"
                f"{traceback.format_exc()}",
                file=sys.stderr,
            )


def _with_timeout(render: Any, seconds: float) -> str | BaseException:
    """``render()`` in a thread, given ``seconds``; what it returned, or the error."""
    result: list[Any] = []

    def target() -> None:
        try:
            result.append(render())
        except Exception as exc:
            result.append(exc)

    worker = threading.Thread(target=target, daemon=True, name="card-render")
    worker.start()
    worker.join(seconds)
    if not result:
        return TimeoutError(
            f"Rendering the card took longer than its @card(timeout={seconds:g}) seconds; raise "
            "the timeout or append fewer or smaller components."
        )
    return result[0]


@contextlib.contextmanager
def task_cards(
    flow: FlowSpec,
    node: StepNode,
    request: TaskRequest,
    store: FlowDataStore,
    state: TaskState,
    started: float,
) -> Iterator[CardCollector]:
    """The step's ``current.card`` while its code runs (with no cards when the step has no
    ``@card``); then its cards, rendered and stored final, also when the step failed (they
    show what it appended before, and the default card the failure)."""
    specs = step_cards(node)
    renderer = TaskCardRenderer(flow, node, request, store, state, started)
    collector = CardCollector(node.name, specs, renderer.render if specs else None)
    current._set_card(collector)
    try:
        yield collector
    except Exception as exc:
        renderer.failure = exc
        _finish(collector)
        raise
    _finish(collector)


def _finish(collector: CardCollector) -> None:
    if collector.sections and collector._render is not None:
        collector._render(collector, True)
