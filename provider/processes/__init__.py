"""Task processes on this machine: one layer under the local executor, a chunk and a gang.

========================  ============================================================
:mod:`.spawn`             start a task process: forked from a warm parent (which may hand it
                          more tasks of its step) or a fresh ``python -m provider.runtime``
:mod:`.pool`              the running task processes: their output relayed line by line and
                          kept per stream, their ends reaped, what they left behind stopped
:mod:`.groups`            each task leads a process group and dies with its parent
:mod:`.gpus`              the machine's GPUs, a budget handed out to tasks
:mod:`.crashes`           an attempt whose process died before recording its end
:mod:`.proc`, :mod:`.liveness`  processes read from ``/proc``; records whose process is gone
========================  ============================================================

The local executor (:mod:`provider.local.scheduler`), a chunk of a wide foreach
(:mod:`provider.runtime.chunk`) and a gang of nodes (:mod:`provider.runtime.gang`) each
decide *which* tasks run; this layer is *how* they run. It runs no step itself: a process
calls the function it is given. No Airflow import.
"""
