"""Cards: HTML reports of tasks (Metaflow's ``metaflow.cards``), rendered with no network.

A step with ``@card`` gets ``current.card``; these components go on it. Each card is one
self-contained HTML page stored in the datastore beside the task's artifacts; read them
with :func:`get_cards` (or ``Task.cards``), ``python flow.py card view STEP``, or the
task's "Card" link in the Airflow UI. No Airflow import.
"""

from provider.cards.components import (
    Artifact,
    Error,
    Image,
    Markdown,
    MetaflowCardComponent,
    ProgressBar,
    Table,
    VegaChart,
)
from provider.cards.store import Card, get_cards

__all__ = [
    "Artifact",
    "Card",
    "Error",
    "Image",
    "Markdown",
    "MetaflowCardComponent",
    "ProgressBar",
    "Table",
    "VegaChart",
    "get_cards",
]
