"""What a node of a distributed step knows, and the environment it gives frameworks.

``self.next(self.train, num_parallel=N)`` runs the ``@parallel`` step ``train`` as
a *gang*: N nodes (processes, pods or Batch nodes) that start together and can
reach each other; node 0 is the main (control) node. A gang is a foreach of
width N over the node indices: the split records N items (the indices, labelled
``node 0`` ... ``node N-1``), each node is the task ``<path>.<index>`` and the
join after the step receives N inputs, in node order.

Each node sees ``current.parallel`` (:class:`Parallel`, Metaflow's namedtuple)
and ``current.is_parallel``, and runs with the variables of
:meth:`GangNode.environment`, so ``torch.distributed.init_process_group()`` (one
process per node) and a bare ``torchrun train.py`` need no arguments.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

from provider.exceptions import FlowDefinitionError
from provider.settings import option, positive_int

#: the foreach variable a gang's split records (its items are the node indices)
PARALLEL_VAR = "_parallel"
#: the variable that raises the most nodes a gang may have (``[airstep] max_num_parallel``)
MAX_NUM_PARALLEL_ENV = option("max_num_parallel").env_var
#: the main node's port when nothing else chooses one (torch's default)
DEFAULT_MAIN_PORT = 29500


class Parallel(NamedTuple):
    """``current.parallel``: where the gang's main node is and which node this is."""

    main_ip: str
    num_nodes: int
    node_index: int
    control_task_id: str | None


#: ``current.parallel`` outside a gang: a single node, as in Metaflow
SINGLE_NODE = Parallel(main_ip="127.0.0.1", num_nodes=1, node_index=0, control_task_id=None)


@dataclass(frozen=True)
class GangNode:
    """One node of a gang, as the runtime hands it to the task that runs on it."""

    index: int
    num_nodes: int
    main_addr: str
    main_port: int
    #: the task id of node 0, which stands for the gang (``"0"``, ``"3.0"``)
    control_task_id: str

    @property
    def parallel(self) -> Parallel:
        return Parallel(self.main_addr, self.num_nodes, self.index, self.control_task_id)

    def environment(self) -> dict[str, str]:
        """The variables a node's step runs with.

        ``MASTER_ADDR``/``MASTER_PORT``: the main node; ``WORLD_SIZE``: the number of
        nodes; ``NODE_RANK`` and ``RANK``: this node's index (``RANK`` and
        ``LOCAL_RANK=0`` are right for one process per node, and torchrun sets its
        own for its workers); ``PET_*``: torchrun's options, so ``torchrun train.py``
        needs no arguments; ``MF_PARALLEL_*``: Metaflow's names for the same facts.
        """
        main, port = self.main_addr, str(self.main_port)
        nodes, index = str(self.num_nodes), str(self.index)
        return {
            "MASTER_ADDR": main,
            "MASTER_PORT": port,
            "WORLD_SIZE": nodes,
            "NODE_RANK": index,
            "RANK": index,
            "LOCAL_RANK": "0",
            "PET_NNODES": nodes,
            "PET_NODE_RANK": index,
            "PET_MASTER_ADDR": main,
            "PET_MASTER_PORT": port,
            "MF_PARALLEL_MAIN_IP": main,
            "MF_PARALLEL_NUM_NODES": nodes,
            "MF_PARALLEL_NODE_INDEX": index,
            "MF_PARALLEL_CONTROL_TASK_ID": self.control_task_id,
        }


def max_num_parallel() -> int:
    """The most nodes a gang may have: ``[airstep] max_num_parallel`` (default 64)."""
    try:
        cap = positive_int("max_num_parallel")
    except ValueError as exc:  # the flow cannot be checked: a parse-time error, as a bad flow
        raise FlowDefinitionError(str(exc)) from None
    assert cap is not None  # the option has a default
    return cap


def num_parallel_problem(value: Any, cap: int) -> str | None:
    """What is wrong with ``num_parallel=value`` (the end of a sentence), or None."""
    if isinstance(value, bool) or not isinstance(value, int):
        return (
            f"the number of nodes must be a whole number, not a {type(value).__name__}; "
            "give e.g. num_parallel=4"
        )
    if value < 1:
        return f"a gang needs at least one node: give a whole number from 1 to {cap}"
    if value > cap:
        return (
            f"that is more than the maximum of {cap} nodes; lower it, or raise the maximum "
            f"with --max-num-parallel (or {MAX_NUM_PARALLEL_ENV})"
        )
    return None
