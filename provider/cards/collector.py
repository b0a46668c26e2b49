"""``current.card``: the components a running step puts on its cards.

As in Metaflow: ``current.card.append(c)`` / ``extend([...])`` add to the step's default
editable card (its only card, else its one card without an ``id``);
``current.card["results"]`` is the card with that id (``append``, ``extend``, ``clear``,
``refresh``; assign a list to replace it); ``current.card.clear()`` empties the default
card; ``current.card.refresh()`` renders and stores the cards now, while the task runs,
so a card served by Airflow or ``card server`` shows progress.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from provider.decorators.card import CardSpec

#: realtime updates of one task are stored at most this often (seconds)
MIN_REFRESH_SECONDS = 1.0


class CardSection:
    """The components of one card of the running step."""

    def __init__(self, spec: CardSpec, refresh: Callable[[], None]) -> None:
        self.spec = spec
        self.components: list[Any] = []
        self._refresh = refresh

    def append(self, component: Any) -> None:
        self.components.append(component)

    def extend(self, components: Iterable[Any]) -> None:
        self.components.extend(components)

    def clear(self) -> None:
        self.components.clear()

    def refresh(self, data: Any = None) -> None:
        self._refresh()

    def __iter__(self) -> Iterator[Any]:
        return iter(self.components)

    def __len__(self) -> int:
        return len(self.components)


class CardCollector:
    """``current.card`` of one task; ``render`` stores the cards when ``refresh()`` asks."""

    def __init__(
        self,
        step_name: str,
        specs: list[CardSpec],
        render: Callable[[CardCollector, bool], None] | None = None,
    ) -> None:
        self.step_name = step_name
        self.sections = [CardSection(spec, self.refresh) for spec in specs]
        self._render = render
        self._last_refresh = 0.0
        self._warned: set[str] = set()

    def _warn(self, what: str, message: str) -> None:
        if what not in self._warned:
            self._warned.add(what)
            print(f"Warning: {message}", file=sys.stderr)

    def _default(self) -> CardSection | None:
        if len(self.sections) == 1:
            return self.sections[0]
        unnamed = [s for s in self.sections if s.spec.id is None]
        if len(unnamed) == 1:
            return unnamed[0]
        if not self.sections:
            self._warn(
                "none",
                f"step *{self.step_name}* has no @card, so what it appends to current.card is "
                "not shown; add @card above @step.",
            )
        else:
            self._warn(
                "ambiguous",
                f"step *{self.step_name}* has {len(self.sections)} cards and none is its only "
                "card without an id, so current.card.append() has nowhere to go; use "
                'current.card["<id>"].append(...).',
            )
        return None

    def append(self, component: Any) -> None:
        section = self._default()
        if section is not None:
            section.append(component)

    def extend(self, components: Iterable[Any]) -> None:
        section = self._default()
        if section is not None:
            section.extend(components)

    def clear(self) -> None:
        section = self._default()
        if section is not None:
            section.clear()

    def __getitem__(self, card_id: str) -> CardSection:
        for section in self.sections:
            if section.spec.id == card_id:
                return section
        ids = ", ".join(repr(s.spec.id) for s in self.sections if s.spec.id) or "none"
        raise KeyError(
            f"Step *{self.step_name}* has no card with id {card_id!r} (its card ids: {ids}); "
            f"add @card(id={card_id!r}) above @step."
        )

    def __setitem__(self, card_id: str, components: Iterable[Any]) -> None:
        section = self[card_id]
        section.clear()
        section.extend(components)

    def __contains__(self, card_id: str) -> bool:
        return any(s.spec.id == card_id for s in self.sections)

    @property
    def components(self) -> dict[str | None, list[Any]]:
        return {s.spec.id: s.components for s in self.sections}

    def refresh(self, data: Any = None, force: bool = False) -> None:
        """Render and store the cards now (at most once a second unless ``force``)."""
        now = time.monotonic()
        if self._render is None or not self.sections:
            return
        if not force and now - self._last_refresh < MIN_REFRESH_SECONDS:
            return
        self._last_refresh = now
        self._render(self, False)

    def __repr__(self) -> str:
        cards = ", ".join(s.spec.id or s.spec.type for s in self.sections) or "no cards"
        return f"<current.card of step {self.step_name}: {cards}>"
