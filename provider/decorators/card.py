"""``@card``: an HTML report of the task, rendered after the step and kept with its artifacts.

As in Metaflow, a step may carry several cards (``@card`` twice, with different ``id=``)::

    @card                                   # the default card: artifacts, parameters, graph
    @card(type="blank", id="results")       # only what the step appends to it
    @step
    def train(self): ...

Every ``@card`` of a step lands in one :class:`CardDecorator` (the step has one decorator per
name), which lists the cards in the order they are written, top to bottom.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from provider.decorators.base import StepDecorator, make_step_decorator
from provider.exceptions import InvalidDecoratorError

#: the card types airstep renders, with the options each accepts
CARD_TYPES = ("default", "blank")
CARD_OPTIONS: dict[str, tuple[str, ...]] = {"default": ("only_repr",), "blank": ()}


@dataclass(frozen=True)
class CardSpec:
    """One ``@card(...)`` of a step."""

    type: str
    id: str | None
    options: dict[str, Any]
    timeout: float
    refresh_interval: float | None
    save_errors: bool = True


class CardDecorator(StepDecorator):
    """Render an HTML card of the task after the step: ``type`` is "default" (the task's
    artifacts, parameters, the flow graph, timing) or "blank" (only what the step appends);
    ``id`` names it for ``current.card["id"]``; ``refresh_interval`` (seconds) is how often a
    card that ``current.card.refresh()`` updates while the task runs is reloaded; ``timeout``
    (seconds) bounds its rendering; with ``save_errors`` a card that cannot be rendered is
    stored as a card that says why, else it is left out. ``options`` of the default card:
    ``only_repr`` (artifacts are shown as their repr, the only way this card shows them)."""

    name = "card"
    defaults: ClassVar[dict[str, Any]] = {
        "type": "default",
        "id": None,
        "options": {},
        "timeout": 45,
        "save_errors": True,
        "refresh_interval": 5,
    }

    def validate(self) -> None:
        kind = self.attributes["type"]
        if kind not in CARD_TYPES:
            raise self.fail("type", f"give one of {', '.join(map(repr, CARD_TYPES))}")
        card_id = self.attributes["id"]
        if card_id is not None and (
            not isinstance(card_id, str) or not card_id.replace("_", "a").isalnum()
        ):
            raise self.fail("id", "give a name of letters, digits and underscores, e.g. 'results'")
        self.check_type("options", dict, "a dict")
        unknown = sorted(set(self.attributes["options"]) - set(CARD_OPTIONS[kind]))
        if unknown:
            accepted = ", ".join(CARD_OPTIONS[kind]) or "none"
            raise self.fail("options", f"the {kind} card accepts the options: {accepted}")
        self.check_type("save_errors", bool, "True or False")
        self.check_number("timeout", strict=True, optional=False)
        self.check_number("refresh_interval", strict=True)
        self.cards: list[CardSpec] = [self._spec()]

    def _spec(self) -> CardSpec:
        a = self.attributes
        interval = a["refresh_interval"]
        return CardSpec(
            type=a["type"],
            id=a["id"],
            options=dict(a["options"]),
            timeout=float(a["timeout"]),
            refresh_interval=float(interval) if interval is not None else None,
            save_errors=bool(a["save_errors"]),
        )

    def add(self, other: CardDecorator) -> None:
        """Another ``@card`` on the same step: one more card, with an id of its own."""
        spec = other.cards[0]
        if any(c.id == spec.id and c.type == spec.type for c in self.cards):
            raise InvalidDecoratorError(
                f"@card on step *{self.step_name}* is given twice with type={spec.type!r} and "
                f"id={spec.id!r}; give each card of a step its own id, e.g. @card(id='results')."
            )
        if spec.id is not None and any(c.id == spec.id for c in self.cards):
            raise InvalidDecoratorError(
                f"@card on step *{self.step_name}*: id={spec.id!r} is used by two cards; "
                "give each card of a step its own id."
            )
        # decorators apply bottom-up: the card written higher up comes first
        self.cards.insert(0, spec)

    def __repr__(self) -> str:
        return " ".join(
            "@card("
            + ", ".join(f"{k}={v!r}" for k, v in (("type", c.type), ("id", c.id)) if v)
            + ")"
            for c in self.cards
        )


_attach_one = make_step_decorator(CardDecorator)


def card(func: Any = None, **attributes: Any) -> Any:
    """``@card`` / ``@card(type="blank", id="results", refresh_interval=2)`` above ``@step``;
    several per step, each with its own ``id``."""

    def attach(f: Any) -> Any:
        existing = next(
            (d for d in getattr(f, "decorators", []) if isinstance(d, CardDecorator)), None
        )
        if existing is None:
            return _attach_one(**attributes)(f) if attributes else _attach_one(f)
        existing.add(CardDecorator(f.__name__, attributes))
        return f

    if func is not None:
        if attributes or not callable(func):
            raise InvalidDecoratorError(
                f"@card takes keyword arguments only, got {func!r}; write e.g. @card(type='blank')."
            )
        return attach(func)
    return attach


card.decorator_class = CardDecorator  # type: ignore[attr-defined]


def step_cards(node: Any) -> list[CardSpec]:
    """The cards of a step (a graph node), in declaration order; empty without ``@card``."""
    deco = node.decorators.get("card")
    return list(deco.cards) if deco is not None else []
