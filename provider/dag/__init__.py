"""Compile a flow into a native Airflow DAG: the one place that maps flow concepts to Airflow.

``MyFlow.to_dag()`` (or :func:`flow_to_dag`) returns an ``airflow.sdk.DAG``
with one task per step (task id = step name, doc_md = the step's docstring);
the flow's docstring is the DAG's doc_md. Every task runs the step through the
airstep runtime (:class:`~provider.operators.step.StepOperator`), so a step
behaves the same under Airflow as in ``python flow.py run``.

Parameters
    Each :class:`~provider.Parameter` is a DAG ``Param`` with a JSON-schema type, so
    the trigger form shows it and Airflow checks it (:mod:`provider.dag.params`).
    The ``start`` task hands the validated values to the runtime.

Projects and configs
    A ``@project`` flow's DAG id is ``<project>.<branch>.<Flow>`` (the branch from
    ``to_dag(branch=..., production=...)``, else the environment, else the user's), with
    ``project:`` / ``project_branch:`` tags, so branches deploy side by side; each task
    passes the DAG's choice to its step (:func:`provider.flow.project.task_environment`).
    ``Config`` values are read when the file is parsed and shown in the DAG's doc; they
    are not ``Param``s.

XCom holds pointers, never data
    Artifacts live in the datastore. A task returns its airstep task id (its
    foreach index path: ``"0"``, ``"3"``, ``"3.5"``); a foreach split returns its
    children's task ids (``["3.0", "3.1"]``). Pointers are never None, so no
    mapped task instance silently drops out of a sequence. Joins find their
    inputs in the datastore (:mod:`provider.runtime.topology`), so Airflow only
    needs the dependency edges: branches and joins are plain dependencies.

Foreach: flat dynamic task mapping
    A step outside any foreach (depth 0) is a plain task. A step inside a
    foreach (depth >= 1) is a mapped task over the task ids of its depth:

    * the first step of a body is mapped over its split's output (a list);
    * a later step of the body is mapped over its parent's output, one task id
      per parent task (1:1 chaining);
    * a join inside a foreach is mapped over the task ids of its own depth: the
      output of the split that opened that depth (the steps after the join then
      chain 1:1 from it).

    A foreach split that is itself mapped (a nested foreach) returns one list per
    task, and Airflow does not flatten chained lists, so a small unmapped task
    ``<split>__fanout`` concatenates them (in chunks when they are many) and the
    inner body is mapped over it.
    The rendered map index shows the item (``rates[2]=0.03``).

    Why flattening rather than mapped task groups: Airflow 3 refuses operator
    expansion inside a mapped task group, and nested mapped groups, so groups
    cannot express a nested foreach. Flat mapping handles every shape the flow
    graph allows (nested foreach, multi-step bodies, branches and joins inside a
    body) with one rule instead of two mechanisms. The cost is that each body
    step waits for the whole previous stage (Airflow expands a mapped task once
    its upstream is complete).

Wide foreach: chunks
    A foreach of at most ``[airstep] max_map_tasks`` items (256 by default, and at
    most ``[core] max_map_length``) maps one task instance per item. A wider one
    maps one task instance per *chunk*: its split (or, for the total of a nested
    foreach, its fanout task) pushes the task ids in at most ``max_map_tasks``
    consecutive lists of equal size (``[["0", ..., "39"], ["40", ...], ...]``), and a
    mapped task that receives a list runs every task of it, each its own flow task
    (own id, artifacts, log, attempts, ``@catch``) in a process of its own
    (:mod:`provider.runtime.chunk`): in the worker, or in one pod or one Batch job
    per chunk. The map index shows the chunk's range (``items[40:80]``). The rest
    of the mapping is unchanged: a chunk pushes its tasks' pointers concatenated,
    so the next step of the body chains 1:1 from it as a chunk too, a join inside
    the foreach maps over the same chunks, a fanout flattens a chunk of splits, and
    a @parallel step runs a chunk of gangs (in the worker; one pod or job runs one
    gang, so a remote gang in a chunked foreach is refused with the fix). A failing
    task fails its chunk's task instance once the chunk's other tasks have ended;
    Airflow's retry of it runs only the tasks that did not succeed, while clearing
    it runs them all again.

    Why ``max_map_tasks`` is 256 rather than Airflow's 1,024: every task
    instance costs a scheduler round trip, a worker process (a pod or a Batch job,
    and a start-up, for remote steps) and a row in the grid; a chunk costs one of
    each for tens of items, and 256 chunks still spread a foreach over more workers
    than most deployments have. A foreach wider than ``max_map_tasks`` chunks of
    ``max_map_length`` items each fails in its split (or fanout) task with a
    message naming the width, the limit and the fixes, as ``--max-num-splits``
    does locally.

Distributed steps: one task per gang
    ``num_parallel=N`` is a foreach of width N over node indices, but its N nodes
    start together, so a @parallel step is ONE task that runs the whole gang
    (mapped one per gang when the gang is inside a foreach). The split that
    starts a gang returns the id of the gang's node 0 (``"0"``, ``"3.0"``), which
    the @parallel task takes as ``flow_task_id`` (1:1 chaining, no fanout task);
    the gang returns its nodes' ids, and the join after it maps like any join.
    In the worker (``StepOperator``, and every step under ``local_override``)
    the nodes are local processes (:mod:`provider.runtime.gang`); on Kubernetes
    they are one Indexed Job, on AWS Batch one multi-node job (:func:`gang_operator_for`).

Switch: skipped cases
    A switch (``self.next({"a": self.a, "b": self.b}, condition="choice")``) is a
    task with an edge to each case. Every step on a case, or where cases meet,
    has the trigger rule ``none_failed_min_one_success`` and, before it runs,
    reads the manifests of the switches before it (each records the case it
    chose): a task no chosen case leads to ends *skipped*
    (:meth:`~provider.operators.base.StepOperatorMixin.skip_unless_chosen`), so
    inside a foreach each map index skips on its own, and the steps after a
    skipped task skip in turn by their trigger rule. Such a step is mapped over
    every task id of its depth (its foreach's split), never over a parent whose
    skipped task instances pushed no pointer; a nested foreach's fanout, and a
    gang mapped over its split, take the ids of the split tasks that ran. A
    recursive switch (a step that names itself as a case) runs its loop inside
    its one task: the DAG has no edge back.

How the run ended
    A last task, ``__run_status`` (:class:`~provider.operators.status.RunStatusOperator`),
    runs once every other task is done, whatever their states (trigger rule
    ``all_done``), and records the run's status ("ok" or "failed") and end time in
    the run record, so the client tells a failed run from one still going. It is
    the DAG's only leaf and fails on a failed run, so the DAG run's state is
    Airflow's as before. No step may take its name.

Decorators
    ``@retry`` gives ``retries``/``retry_delay``. ``@timeout`` is enforced by the
    runtime, wherever the step runs, so ``@catch`` stores the same
    :class:`~provider.exceptions.StepTimeout` as in a local run; the task's
    ``execution_timeout`` is only an outer safety net behind it
    (:func:`~provider.operators.base.execution_timeout`). ``@catch`` catches an
    exception of the step in the runtime on the last regular attempt, and gives the
    task one more try: its fallback attempt, which runs no user code but records
    why the last regular try failed when no exception could be caught (the worker
    or pod died, an artifact could not be saved), so the run carries on. That try
    waits ``retry_delay`` like the others (no wait without ``@retry``).
    ``@schedule`` gives the DAG's schedule and timezone when no ``schedule`` is
    passed. ``step_concurrency={"train": 4}`` caps a step's running task
    instances per run (``max_active_tis_per_dagrun``).

Where steps run
    ``@kubernetes`` steps become :class:`~provider.operators.kubernetes.KubernetesStepOperator`
    tasks (a pod), ``@batch`` steps :class:`~provider.operators.batch.BatchStepOperator`
    tasks (an AWS Batch job); a step with ``@resources`` alone goes where
    ``[airstep] default_compute`` says (kubernetes, batch or local); one function,
    :func:`~provider.decorators.placement.step_placement`, decides it. Every task runs
    the same runtime entrypoint. ``[airstep] local_override`` (or
    ``$AIRSTEP_LOCAL_OVERRIDE``) runs every step in the worker instead, so a whole
    flow debugs under ``airflow dags test`` on a laptop. Settings are read through
    :mod:`provider.settings`.

Modules
    :mod:`~provider.dag.builder` (``flow_to_dag``: the DAG, its tasks and edges),
    :mod:`~provider.dag.params` (flow parameters as the DAG's ``params``) and
    :mod:`~provider.dag.docs` (the DAG's doc and tags).
"""

from provider.dag.builder import (
    DEFAULT_START_DATE,
    FANOUT_SUFFIX,
    MERGE_RULE,
    flow_to_dag,
    task_settings,
)
from provider.dag.params import dag_params
from provider.decorators.placement import step_placement
from provider.operators.placement import gang_operator_for, operator_for

__all__ = [
    "DEFAULT_START_DATE",
    "FANOUT_SUFFIX",
    "MERGE_RULE",
    "dag_params",
    "flow_to_dag",
    "gang_operator_for",
    "operator_for",
    "step_placement",
    "task_settings",
]
