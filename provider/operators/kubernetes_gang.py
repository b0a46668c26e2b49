"""``KubernetesGangOperator``: a whole gang (a ``@parallel`` step) as one Indexed Job.

One Airflow task runs every node of the gang. It creates a headless Service
(``clusterIP: None``, ``publishNotReadyAddresses: true``) and an Indexed Job with
``completions = parallelism = N``; the Job's pods have the Service's name as their
subdomain, so pod ``i`` is reachable as ``<job>-<i>.<service>`` and node 0, the main
node, as ``<job>-0.<service>``. Each pod runs the airstep runtime for one node: its
index from ``JOB_COMPLETION_INDEX``, ``--num-nodes N``, ``--main-addr`` the main
node's name and ``--main-port``. The pod template is the single-pod operator's,
from the same :func:`~provider.operators.kubernetes.pod_settings` (resources and
GPUs are per node).

The Job never retries a pod (``backoffLimit: 0`` and a ``FailJob`` pod failure
policy on any non-zero exit): a gang whose node failed cannot go on, and Airflow's
retries start a new Job under a new name. The operator polls the Job until it is
``Complete`` or ``Failed``, streams each node's log into the task log prefixed by
its node index, and always deletes the Job (with its pods) and the Service at the
end, as ``on_kill`` does. The task's XCom is node 0's pointer, every node's id.

With ``[airstep] kubernetes_gang = jobset`` the same Job is the only replicated job of a
JobSet (:mod:`provider.operators.kubernetes_jobset`), created through the provider hook's
custom objects client: the JobSet controller makes the Job, the headless Service and the
pods' DNS names, and the JobSet's status decides; the rest is as above. What differs is a
:class:`~provider.operators.kubernetes_gang_backends.GangBackend`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow.providers.cncf.kubernetes.backcompat.backwards_compat_converters import (
    convert_env_vars,
)
from airflow.providers.cncf.kubernetes.operators.job import KubernetesJobOperator
from kubernetes.client import models as k8s
from kubernetes.client.exceptions import ApiException

from provider.datastore.flowstore import path_for
from provider.exceptions import StepError
from provider.flow.distributed import DEFAULT_MAIN_PORT
from provider.operators.kubernetes import hand_off_to_pods, pod_settings
from provider.operators.kubernetes_gang_backends import GangBackend, gang_backend
from provider.operators.kubernetes_secrets import delete_handoff, own_handoff
from provider.operators.remote import RemoteStepMixin, deferral_asked
from provider.runtime.gang import gang_size

if TYPE_CHECKING:
    from airflow.sdk import Context

    from provider.flow.spec import FlowSpec

#: the Job's name stays short enough that ``<job>-<index>`` is a valid hostname
NAME_BASE_LENGTH = 40
#: how long the logs of a finished gang may take to arrive
LOG_DRAIN_SECONDS = 10.0


class KubernetesGangOperator(RemoteStepMixin, KubernetesJobOperator):
    """Run every node of a @parallel step in one Indexed Job on Kubernetes.

    :param flow_cls: the :class:`~provider.FlowSpec` subclass the step belongs to.
    :param step_name: the @parallel step; its ``@kubernetes`` / ``@resources`` give each pod.
    :param flow_task_id: the id of the gang's node 0 (``"0"``, ``"3.0"``). (templated)
    :param main_port: the port the main node listens on (``MASTER_PORT``).
    :param poll_interval: seconds between looks at the Job.
    :param kwargs: any other ``KubernetesPodOperator`` argument; the step's settings win.
    """

    remote_kind = "gang of pods"
    template_fields: Sequence[str] = (*KubernetesJobOperator.template_fields, "flow_task_id")

    def __init__(
        self,
        *,
        flow_cls: type[FlowSpec],
        step_name: str,
        flow_task_id: str = "0",
        main_port: int = DEFAULT_MAIN_PORT,
        poll_interval: float = 1.0,
        **kwargs: Any,
    ) -> None:
        node = flow_cls.graph()[step_name]
        settings = pod_settings(node, flow_cls.__name__)
        settings["name"] = settings["name"][:NAME_BASE_LENGTH].rstrip("-")
        super().__init__(
            **{
                "get_logs": True,
                "cmds": ["python"],
                **kwargs,
                "deferrable": False,  # see provider.operators.remote
                "do_xcom_push": False,
                "wait_until_job_complete": False,
                "completion_mode": "Indexed",
                "backoff_limit": 0,
                "on_kill_propagation_policy": "Background",
                **settings,
            }
        )
        self.flow_cls = flow_cls
        self.step_name = step_name
        self.flow_task_id = flow_task_id
        self.main_port = main_port
        self.poll_interval = poll_interval
        self.deferral_refused = deferral_asked(kwargs)
        #: (backend, namespace, name) of the gang while it exists
        self.gang_job: tuple[GangBackend, str, str] | None = None
        #: the name of the gang's hand-off Secret (@secrets) while it exists
        self.handoff: str | None = None

    # -- running -------------------------------------------------------------------------------
    def execute(self, context: Context) -> Any:
        command, env = self.runtime_request(context)
        graph = self.flow_cls.graph()
        step = graph[self.step_name]
        path = path_for(str(self.flow_task_id), graph.foreach_depth(self.step_name))
        size = gang_size(graph, step, self.datastore(), self.flow_run(context), path)
        backend = gang_backend(self.hook, self.step_name, self.log)
        argv = command.to_argv("python")
        self.cmds, self.arguments = argv[:1], argv[1:]
        self.env_vars = convert_env_vars(dict(sorted(env.items())))
        self.completions = self.parallelism = size
        self.handoff, self.env_vars = hand_off_to_pods(
            self.hook, self.namespace, self.flow_cls, self.step_name, self.env_vars, context
        )
        job = self.build_job_request_obj(context)
        name, namespace = job.metadata.name, job.metadata.namespace
        main_addr = backend.main_address(name)
        pod = job.spec.template
        pod.metadata.name = None
        pod.spec.restart_policy = "Never"
        container = pod.spec.containers[0]
        # every node runs the same command; its index comes from JOB_COMPLETION_INDEX
        node = command.node(num_nodes=size, main_addr=main_addr, main_port=self.main_port)
        container.args = node.to_argv("python")[1:]
        job.spec.pod_failure_policy = k8s.V1PodFailurePolicy(
            rules=[
                k8s.V1PodFailurePolicyRule(
                    action="FailJob",
                    on_exit_codes=k8s.V1PodFailurePolicyOnExitCodesRequirement(
                        container_name=container.name, operator="NotIn", values=[0]
                    ),
                )
            ]
        )
        self.log.info(
            "Step *%s*: a gang of %d pod(s), %s %s/%s; the main node is %s:%d.",
            self.step_name,
            size,
            backend.kind,
            namespace,
            name,
            main_addr,
            self.main_port,
        )
        self.gang_job = (backend, namespace, name)
        try:
            owner = backend.create(job, self.labels)
            if self.handoff is not None:  # Kubernetes deletes it with the gang, even if we die
                own_handoff(self.hook, namespace, self.handoff, owner)
            self._wait(backend, namespace, name, size)
        finally:
            self._delete_gang()
            self._delete_handoff()
        self.do_xcom_push = True
        return self.finish_remote_task(context)

    def _wait(self, backend: GangBackend, namespace: str, name: str, size: int) -> None:
        """Poll the gang until it ends, streaming each node's log as its pod starts."""
        streams: dict[int, threading.Thread] = {}
        startup_deadline = time.monotonic() + self.startup_timeout_seconds
        what = f"{backend.kind} {namespace}/{name}"
        while True:
            try:
                ended, reason = backend.outcome(namespace, name)
            except ApiException as exc:
                if exc.status == 404:
                    raise StepError(
                        f"Step *{self.step_name}*: {what} was deleted while its gang ran (the "
                        "task was stopped, or someone deleted it); retry the task."
                    ) from None
                raise
            pods = self._pods(backend, namespace, name)
            for index, pod in pods.items():
                if index not in streams and (pod.status.phase or "Pending") != "Pending":
                    streams[index] = threading.Thread(
                        target=self._stream_log, args=(index, pod), daemon=True
                    )
                    streams[index].start()
            if time.monotonic() > startup_deadline:
                self._check_started(pods, size)
            if ended == "Complete":
                self._drain(streams)
                return
            if ended == "Failed":
                self._drain(streams)
                raise StepError(self._failure(what, reason, pods, size))
            time.sleep(self.poll_interval)

    def _pods(self, backend: GangBackend, namespace: str, name: str) -> dict[int, k8s.V1Pod]:
        listed = self.hook.core_v1_client.list_namespaced_pod(
            namespace, label_selector=backend.pod_selector(name)
        )
        pods = {}
        for pod in listed.items:
            index = (pod.metadata.labels or {}).get("batch.kubernetes.io/job-completion-index")
            if index is not None:
                pods[int(index)] = pod
        return pods

    def _stream_log(self, index: int, pod: k8s.V1Pod) -> None:
        """Copy one node's log into the task log, each line prefixed by the node index."""
        if not self.get_logs:
            return
        try:
            response = self.hook.core_v1_client.read_namespaced_pod_log(
                pod.metadata.name,
                pod.metadata.namespace,
                container=pod.spec.containers[0].name,
                follow=True,
                _preload_content=False,
            )
            for line in response:
                self.log.info("[node %d] %s", index, line.decode(errors="replace").rstrip("\n"))
        except Exception as exc:  # a log is only a copy: the Job's status decides
            self.log.warning("[node %d] the log of pod %s ended: %s", index, pod.metadata.name, exc)

    def _check_started(self, pods: dict[int, k8s.V1Pod], size: int) -> None:
        """Past the startup timeout, every node's pod must have left Pending."""
        waiting = []
        for index in range(size):
            pod = pods.get(index)
            if pod is not None and (pod.status.phase or "Pending") != "Pending":
                continue
            why = "not created"
            if pod is not None:
                states = [c.state for c in pod.status.container_statuses or [] if c.state]
                reasons = [s.waiting.reason for s in states if s.waiting and s.waiting.reason]
                why = f"pod {pod.metadata.name} Pending" + (f" ({reasons[0]})" if reasons else "")
            waiting.append(f"node {index}: {why}")
        if waiting:
            raise StepError(
                f"Step *{self.step_name}*: its gang did not start within "
                f"{self.startup_timeout_seconds} s ({'; '.join(waiting)}); every node must be "
                "scheduled at once, so check that the cluster can hold all of them (resources, "
                "node selector, image), or raise @kubernetes(startup_timeout=...)."
            )

    @staticmethod
    def _drain(streams: dict[int, threading.Thread]) -> None:
        deadline = time.monotonic() + LOG_DRAIN_SECONDS
        for thread in streams.values():
            thread.join(max(0.0, deadline - time.monotonic()))

    def _failure(self, what: str, reason: str | None, pods: dict[int, k8s.V1Pod], size: int) -> str:
        failed = []
        for index, pod in sorted(pods.items()):
            for status in pod.status.container_statuses or []:
                ended = status.state.terminated if status.state else None
                if ended is not None and ended.exit_code:
                    failed.append(
                        f"node {index} (pod {pod.metadata.name}) exited {ended.exit_code}"
                    )
        return (
            f"Step *{self.step_name}*: its gang of {size} pod(s), {what}, failed ({reason}): "
            f"{'; '.join(failed) or 'no node reported an exit code'}. Every node stops with the "
            "first that fails; see the node's log above ([node I] lines) for its error, fix it "
            f"and retry the task (a retry starts a new {what.split()[0]})."
        )

    # -- cleaning up ---------------------------------------------------------------------------
    def on_kill(self) -> None:
        self._delete_gang()
        self._delete_handoff()

    def _delete_handoff(self) -> None:
        if self.handoff is not None:
            delete_handoff(self.hook, self.namespace, self.handoff)
            self.handoff = None

    def _delete_gang(self) -> None:
        """Delete the gang with its pods (and the Service); what is already gone is fine."""
        if self.gang_job is None:
            return
        backend, namespace, name = self.gang_job
        backend.delete(namespace, name, self.termination_grace_period)
        self.gang_job = None
