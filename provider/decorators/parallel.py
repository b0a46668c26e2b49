"""``@parallel``: the step runs as a gang of nodes that can reach each other.

The step before it starts the gang with ``self.next(self.train, num_parallel=N)``;
the step after it is a join that receives one input per node. The flow graph
checks that placement (:class:`~provider.flow.graph.FlowGraph`); what each node
knows is in :mod:`provider.flow.distributed`.
"""

from __future__ import annotations

from typing import Any, ClassVar

from provider.decorators.base import StepDecorator, make_step_decorator


class ParallelDecorator(StepDecorator):
    """Run the step on ``num_parallel`` nodes at once: a distributed step (e.g. torchrun).

    Node 0 is the main node; every node sees ``current.parallel`` and the
    ``MASTER_ADDR``/``MASTER_PORT``/``WORLD_SIZE``/``NODE_RANK`` environment.
    ``@resources`` applies to each node; ``@retry`` runs the whole gang again.
    """

    name = "parallel"
    defaults: ClassVar[dict[str, Any]] = {}


parallel = make_step_decorator(ParallelDecorator)
