"""The user a process runs for: the owner of the runs it starts (``current.username``)."""

from __future__ import annotations

import getpass
import os

#: the variables that name the user, first one set wins (Metaflow's METAFLOW_USER included)
USER_VARIABLES = ("AIRSTEP_USER", "METAFLOW_USER", "SUDO_USER", "USERNAME", "USER", "LOGNAME")


def username() -> str:
    """The user this process runs for: ``$AIRSTEP_USER``, else the login name."""
    for name in USER_VARIABLES:
        value = os.environ.get(name, "").strip()
        if value:
            return value
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"
