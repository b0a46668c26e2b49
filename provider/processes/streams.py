"""A task's output streams: how much of each is kept, and ``print`` onto a descriptor."""

from __future__ import annotations

import io
from typing import TextIO

#: the most output kept per attempt; beyond it the oldest output is dropped
MAX_LOG_BYTES = 32 * 1024 * 1024


def text_stream(fd: int) -> TextIO:
    """A text stream on a descriptor, so ``print`` reaches it whatever ``sys.stdout`` was."""
    binary = open(fd, "wb", buffering=0, closefd=False)  # noqa: SIM115 - lives with the capture
    return io.TextIOWrapper(
        binary, encoding="utf-8", errors="replace", line_buffering=True, write_through=True
    )
