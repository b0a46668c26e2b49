"""Graceful termination: SIGTERM and spot interruption notices reach the step's hooks.

When a spot instance is reclaimed the platform first publishes a notice (on AWS,
the instance metadata path ``spot/instance-action``, about two minutes ahead),
then sends SIGTERM, then kills the process after a grace period. Both signals run
the hooks registered with ``current.on_termination`` (once); SIGTERM then fails
the attempt with :class:`TaskTerminated`, so a ``@retry`` starts a new attempt,
which can pick up ``current.load_checkpoint()``.

The notice is polled only where it can exist: inside an AWS Batch job
(``AWS_BATCH_JOB_ID``) or where ``[airstep] spot_metadata_url`` names an endpoint, every
``[airstep] spot_poll_seconds``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

from provider.exceptions import StepError
from provider.flow.current import current
from provider.settings import seconds, setting

AWS_METADATA = "http://169.254.169.254/latest"


class TaskTerminated(StepError):
    """The task was asked to stop (SIGTERM); the attempt fails and may be retried."""


def spot_notice_url() -> str | None:
    url = setting("spot_metadata_url")
    if url:
        return url.rstrip("/") + "/meta-data/spot/instance-action"
    if os.environ.get("AWS_BATCH_JOB_ID"):
        return AWS_METADATA + "/meta-data/spot/instance-action"
    return None


def _notice_present(url: str) -> bool:
    headers = {}
    base = url.split("/meta-data/")[0]
    with contextlib.suppress(OSError, urllib.error.URLError):  # IMDSv2 token, where required
        put = urllib.request.Request(
            base + "/api/token",
            method="PUT",
            headers={"X-aws-ec2-metadata-token-ttl-seconds": "300"},
        )
        with urllib.request.urlopen(put, timeout=1) as resp:
            headers["X-aws-ec2-metadata-token"] = resp.read().decode()
    try:
        with urllib.request.urlopen(
            urllib.request.Request(url, headers=headers), timeout=2
        ) as resp:
            return resp.status == 200
    except (OSError, urllib.error.URLError):
        return False


def _poll_spot_notice(url: str, stop: threading.Event, interval: float) -> None:
    while not stop.wait(interval):
        if _notice_present(url):
            current._terminate("spot interruption notice")
            return


@contextlib.contextmanager
def termination_signals(step: str) -> Iterator[None]:
    """Install the SIGTERM handler (main thread only) and the spot-notice poller."""
    stop = threading.Event()
    url = spot_notice_url()
    if url:
        interval = seconds("spot_poll_seconds")
        threading.Thread(target=_poll_spot_notice, args=(url, stop, interval), daemon=True).start()
    if threading.current_thread() is not threading.main_thread():
        try:
            yield
        finally:
            stop.set()
        return

    def on_sigterm(signum: int, frame: Any) -> None:
        current._terminate("SIGTERM")
        raise TaskTerminated(
            f"Step *{step}* was asked to stop (SIGTERM, e.g. a spot instance reclaimed); "
            "its termination hooks ran. Add @retry to run it again."
        )

    previous = signal.signal(signal.SIGTERM, on_sigterm)
    try:
        yield
    finally:
        stop.set()
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def failing_on_sigterm(message: str) -> Iterator[None]:
    """Inside, SIGTERM to this process raises :class:`TaskTerminated` with ``message`` (the
    caller's ``finally`` stops the processes it started: a chunk's items, a gang's nodes).
    Only the main thread can handle signals; elsewhere nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_sigterm(signum: int, frame: object) -> None:
        raise TaskTerminated(message)

    previous = signal.signal(signal.SIGTERM, on_sigterm)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
