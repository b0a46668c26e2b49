"""``KubernetesStepOperator``: a step in its own pod.

A subclass of the provider's ``KubernetesPodOperator``: its waiting, log
streaming, cancellation (``on_kill`` deletes the pod) and cleanup are reused as
they are. This module only turns a step's decorators into the pod's settings
(:func:`pod_settings`) and runs the airstep runtime in the container.

Every ``@kubernetes`` attribute reaches the pod or is refused when the
decorator is applied; none is dropped. GPUs go in the container's limits as
``nvidia.com/gpu`` or ``amd.com/gpu``.

The task gets a "Kubernetes pod" link (:class:`KubernetesPodLink`) when
``[airstep] kubernetes_pod_link`` is a URL template: the provider's operator has
no link of its own, and where pods are looked at (a dashboard, Headlamp, a log
search) differs per cluster.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from airflow.providers.cncf.kubernetes.backcompat.backwards_compat_converters import (
    convert_configmap,
    convert_env_vars,
    convert_image_pull_secrets,
    convert_toleration,
)
from airflow.providers.cncf.kubernetes.kubernetes_helper_functions import (
    POD_NAME_MAX_LENGTH,
    create_unique_id,
)
from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator
from airflow.providers.cncf.kubernetes.pod_generator import make_safe_label_value
from airflow.providers.cncf.kubernetes.secret import Secret
from airflow.sdk import BaseOperatorLink
from kubernetes.client import models as k8s

from provider.decorators.placement import Placement
from provider.decorators.resolve import step_resources
from provider.decorators.specs import kubernetes_spec
from provider.flow.graph import StepNode
from provider.operators.base import platform_deadline, startup_seconds
from provider.operators.kubernetes_secrets import (
    delete_handoff,
    hand_off_secrets,
    own_handoff,
    owner_reference,
)
from provider.operators.remote import RemoteStepMixin, deferral_asked
from provider.settings import setting

if TYPE_CHECKING:
    from airflow.sdk import BaseOperator, Context
    from airflow.sdk.types import TaskInstanceKey

    from provider.flow.spec import FlowSpec

log = logging.getLogger(__name__)

GPU_RESOURCE = {"nvidia": "nvidia.com/gpu", "amd": "amd.com/gpu"}
#: a toleration's Python attribute names -> the API's names, which the converter reads
_TOLERATION_FIELDS = k8s.V1Toleration.attribute_map


def _quantity_mb(mb: Any) -> str:
    return f"{int(mb)}Mi"


def dns_label(*parts: str) -> str:
    """A valid DNS-1123 label (pod and volume names) from any names, by the provider's rule.

    The pod operator appends a random suffix to a pod's name, so two long names that
    share a prefix still name different pods.
    """
    name = "-".join(part for part in parts if part)
    return create_unique_id(task_id=name, unique=False, max_length=POD_NAME_MAX_LENGTH) or "airstep"


def label_value(text: str) -> str:
    """A valid label value by the provider's rule: a long or changed name keeps a hash of the
    whole name, so two names that share a long prefix get different values.

    The provider's value starts with "-" when nothing of the name is left but the hash
    (e.g. ``"_"``), which Kubernetes refuses; the dash goes.
    """
    return make_safe_label_value(text).lstrip("-")


def pod_settings(node: StepNode, flow_name: str) -> dict[str, Any]:
    """``KubernetesPodOperator`` arguments for the step (all but the command)."""
    spec = kubernetes_spec(node)
    res = step_resources(node, Placement.KUBERNETES)
    requests = {"cpu": str(res.cpu), "memory": _quantity_mb(res.memory)}
    limits = {"memory": _quantity_mb(res.memory)}
    if res.disk:
        requests["ephemeral-storage"] = limits["ephemeral-storage"] = _quantity_mb(res.disk)
    if res.gpu:
        limits[GPU_RESOURCE[spec.gpu_vendor]] = str(res.gpu)
    volumes: list[k8s.V1Volume] = []
    mounts: list[k8s.V1VolumeMount] = []
    for i, (claim, path) in enumerate(sorted((spec.persistent_volume_claims or {}).items())):
        name = dns_label("pvc", str(i), claim)
        volumes.append(
            k8s.V1Volume(
                name=name,
                persistent_volume_claim=k8s.V1PersistentVolumeClaimVolumeSource(claim_name=claim),
            )
        )
        mounts.append(k8s.V1VolumeMount(name=name, mount_path=path))
    if spec.use_tmpfs or spec.tmpfs_size:
        size = spec.tmpfs_size
        volumes.append(
            k8s.V1Volume(
                name="tmpfs",
                empty_dir=k8s.V1EmptyDirVolumeSource(
                    medium="Memory", size_limit=_quantity_mb(size) if size else None
                ),
            )
        )
        mounts.append(k8s.V1VolumeMount(name="tmpfs", mount_path=spec.tmpfs_path))
    if res.shared_memory:
        volumes.append(
            k8s.V1Volume(
                name="dshm",
                empty_dir=k8s.V1EmptyDirVolumeSource(
                    medium="Memory", size_limit=_quantity_mb(res.shared_memory)
                ),
            )
        )
        mounts.append(k8s.V1VolumeMount(name="dshm", mount_path="/dev/shm"))
    env_from = [Secret("env", None, secret).to_env_from_secret() for secret in spec.secrets or ()]
    env_from += [convert_configmap(config_map) for config_map in spec.env_from or ()]
    tolerations = [
        convert_toleration({_TOLERATION_FIELDS.get(k, k): v for k, v in toleration.items()})
        for toleration in spec.tolerations or ()
    ]
    pull_secrets = spec.image_pull_secrets
    labels = {
        "app.kubernetes.io/managed-by": "airstep",
        "airstep/flow": label_value(flow_name),
        "airstep/step": label_value(node.name),
        **(spec.labels or {}),
    }
    settings: dict[str, Any] = {
        "name": dns_label(flow_name, node.name),
        "image": spec.image or setting("default_image"),
        "namespace": spec.namespace or setting("kubernetes_namespace"),
        "container_resources": k8s.V1ResourceRequirements(requests=requests, limits=limits),
        "labels": labels,
        "annotations": spec.annotations or None,
        "node_selector": spec.node_selector or None,
        "tolerations": tolerations or None,
        "service_account_name": spec.service_account,
        "image_pull_policy": spec.image_pull_policy,
        "image_pull_secrets": convert_image_pull_secrets(",".join(pull_secrets))
        if pull_secrets
        else None,
        "container_security_context": spec.security_context,
        "termination_grace_period": spec.termination_grace_period,
        "startup_timeout_seconds": startup_seconds(node),
        "ports": [k8s.V1ContainerPort(container_port=spec.port)] if spec.port else None,
        "volumes": volumes or None,
        "volume_mounts": mounts or None,
        "env_from": env_from or None,
        # an outer safety net: the runtime's @timeout alarm stops the step first
        "active_deadline_seconds": platform_deadline(node),
    }
    return {k: v for k, v in settings.items() if v is not None}


def hand_off_to_pods(
    hook: Any,
    namespace: str,
    flow_cls: type[FlowSpec],
    step_name: str,
    env_vars: list[Any],
    context: Context,
) -> tuple[str | None, list[Any]]:
    """``@secrets``: the step's Airflow secrets in a new Secret for the task's pods (see
    :mod:`~provider.operators.kubernetes_secrets`), its keys referenced from their env by
    ``secretKeyRef``, so that no value is in a spec. Returns the Secret's name (None when the
    step has no Airflow source) and the env."""
    base = dns_label(flow_cls.__name__, step_name)[:40]
    name, keys = hand_off_secrets(hook, namespace, flow_cls.graph()[step_name], base, context)
    refs = [
        k8s.V1EnvVar(
            name=key,
            value_from=k8s.V1EnvVarSource(
                secret_key_ref=k8s.V1SecretKeySelector(name=name, key=key)
            ),
        )
        for key in keys
    ]
    return name, [*(env_vars or []), *refs]


class KubernetesPodLink(BaseOperatorLink):
    """A link to the step's pod, from the ``[airstep] kubernetes_pod_link`` template.

    The template names ``{namespace}`` and ``{pod}``, e.g.
    ``https://dashboard.example.com/#/pod/{namespace}/{pod}?namespace={namespace}``.
    Airflow computes the link in the worker when the task ends (it knows the pod
    then, also when the step failed) and keeps it in XCom for the UI; without a
    template, or before a pod exists, the link is empty.
    """

    name = "Kubernetes pod"

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        template = setting("kubernetes_pod_link")
        pod = getattr(operator, "pod", None)
        if not template or pod is None or pod.metadata is None:
            return ""
        try:
            return template.format(
                namespace=quote(pod.metadata.namespace or "", safe=""),
                pod=quote(pod.metadata.name or "", safe=""),
            )
        except (KeyError, IndexError, ValueError) as exc:
            log.warning(
                "[airstep] kubernetes_pod_link %r is not a valid template (it may name only "
                "{namespace} and {pod}): %s",
                template,
                exc,
            )
            return ""


class KubernetesStepOperator(RemoteStepMixin, KubernetesPodOperator):
    """Run one step of a flow in a Kubernetes pod, through the airstep runtime.

    :param flow_cls: the :class:`~provider.FlowSpec` subclass the step belongs to.
    :param step_name: the step to run; its ``@kubernetes`` / ``@resources`` give the pod.
    :param flow_task_id: the airstep task id (foreach index path), or a chunk's task ids:
        one container runs them all. (templated)
    :param kwargs: any other ``KubernetesPodOperator`` argument; the step's settings win.
    """

    remote_kind = "pod"
    runs_chunks = True
    template_fields: Sequence[str] = (*KubernetesPodOperator.template_fields, "flow_task_id")
    operator_extra_links = (KubernetesPodLink(),)

    def __init__(
        self,
        *,
        flow_cls: type[FlowSpec],
        step_name: str,
        flow_task_id: str | list[str] = "0",
        **kwargs: Any,
    ) -> None:
        node = flow_cls.graph()[step_name]
        settings = {
            "get_logs": True,
            "on_finish_action": "delete_pod",
            "do_xcom_push": False,  # no XCom sidecar: execute turns it on for its pointer
            "cmds": ["python"],
            **kwargs,
            "deferrable": False,  # see provider.operators.remote
            **pod_settings(node, flow_cls.__name__),
        }
        super().__init__(**settings)
        self.flow_cls = flow_cls
        self.step_name = step_name
        self.flow_task_id = flow_task_id
        self.deferral_refused = deferral_asked(kwargs)
        #: the name of the task's hand-off Secret (@secrets) while it exists
        self.handoff: str | None = None

    def scale_platform_deadline(self, seconds: int) -> None:
        self.active_deadline_seconds = seconds

    def execute(self, context: Context) -> Any:
        args, env = self.runtime_command(context)
        self.cmds, self.arguments = args[:1], args[1:]
        self.env_vars = convert_env_vars(dict(sorted(env.items())))
        self.do_xcom_push = False  # (again, on a retry of this same object)
        self.handoff = self._hand_off_secrets(context)
        try:
            super().execute(context)
        finally:
            self._delete_handoff()
        # the pod writes no XCom file, so the provider ran it without the XCom sidecar; what
        # this returns, the task's pointer, is the task's XCom (a mapped step maps over it)
        self.do_xcom_push = True
        return self.finish_remote_task(context)

    def _hand_off_secrets(self, context: Context) -> str | None:
        name, self.env_vars = hand_off_to_pods(
            self.hook, self.namespace, self.flow_cls, self.step_name, self.env_vars, context
        )
        return name

    def _delete_handoff(self) -> None:
        if self.handoff is not None:
            delete_handoff(self.hook, self.namespace, self.handoff)
            self.handoff = None

    def on_kill(self) -> None:
        """The provider's (the pod is deleted, and its Secret with it), and the Secret too:
        the pod may not exist yet."""
        super().on_kill()
        self._delete_handoff()

    def get_or_create_pod(self, pod_request_obj: k8s.V1Pod, context: Context) -> k8s.V1Pod:
        """The provider's; then the pod (a new one, or one an earlier try left running that
        this try reattaches to) becomes the owner of the task's hand-off Secret."""
        pod = super().get_or_create_pod(pod_request_obj, context)
        if self.handoff is not None:
            meta = pod.metadata

            def owner() -> dict[str, str]:
                # the provider returns the request, whose uid the API server has not given
                uid = meta.uid or self.pod_manager.read_pod(pod).metadata.uid
                return owner_reference("v1", "Pod", meta.name, uid)

            own_handoff(self.hook, meta.namespace or self.namespace, self.handoff, owner)
        return pod
