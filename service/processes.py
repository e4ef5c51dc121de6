"""Who is running something, and whether they still are: the owner stamped on a job, an import
run and an upload's scratch directory, so that whatever a killed process left unfinished is
found and closed by the next one that starts (service.ingest.runs, workers.jobs)."""

from __future__ import annotations

import datetime as dt
import functools
import os
import secrets
import socket

# How often a running job or import says it is alive, and how long silence means it is gone.
HEARTBEAT = dt.timedelta(seconds=5)
STALE_AFTER = dt.timedelta(seconds=60)


@functools.cache
def process_identity() -> str:
    """host:pid:token — this process (the token tells a recycled pid from the first)."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


def is_alive(owner: str) -> bool | None:
    """Whether the process ``owner`` names still runs: True or False on this host, None for a
    process of another host (its heartbeat must tell)."""
    if owner == process_identity():
        return True
    host, _, rest = owner.partition(":")
    if host != process_identity().split(":", 1)[0]:
        return None
    try:
        pid = int(rest.split(":", 1)[0])
    except ValueError:
        return False
    if pid == os.getpid():  # this pid, another token: an earlier process (a restarted container)
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process with that pid: it exists
        return True
    return True
