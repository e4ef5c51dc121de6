"""An upload's scratch files: the CSVs of a multipart import (borrowers' names, phones and
addresses), staged under ``var/uploads`` until the import has read them, then removed — by the
request or the job that imported them, and, when that process was killed, by the next sweep.

Each upload is a directory with an ``.owner`` file: the process that received it, or ``job``
once it is handed to a job (which names the directory in its parameters). The sweep removes a
directory whose owner is gone: a process of this host that no longer runs, a job no longer
unfinished, or (another host's process) an upload older than :data:`ORPHANED_AFTER`.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path

import structlog

from service.processes import is_alive, process_identity

log = structlog.get_logger(__name__)

OWNER_FILE = ".owner"
JOB_OWNER = "job"
# An upload of another host's process with no job: abandoned after this long.
ORPHANED_AFTER = dt.timedelta(hours=6)
# An upload just made, or just handed to a job being submitted, is left alone this long.
GRACE = dt.timedelta(minutes=1)


def upload_root(var_dir: Path) -> Path:
    return var_dir / "uploads"


def scratch_directory(var_dir: Path) -> Path:
    """A new private directory for one upload, owned by this process."""
    root = upload_root(var_dir)
    root.mkdir(parents=True, exist_ok=True)
    directory = Path(tempfile.mkdtemp("", "import-", root))
    (directory / OWNER_FILE).write_text(process_identity())
    return directory


def hand_over(directory: Path) -> None:
    """Before the upload becomes a job: from now on the job owns it (it removes it when done;
    the sweep, once no unfinished job names it)."""
    (directory / OWNER_FILE).write_text(JOB_OWNER)
    os.utime(directory)  # the grace for the job's submission runs from now


def remove(directory: Path) -> None:
    shutil.rmtree(directory, ignore_errors=True)


def sweep_uploads(
    var_dir: Path, job_directories: Iterable[str], now: dt.datetime | None = None
) -> list[Path]:
    """Remove the uploads nobody will import any more (``job_directories``: those the
    unfinished jobs name); returns them."""
    root = upload_root(var_dir)
    if not root.is_dir():
        return []
    jobs = {Path(name).resolve() for name in job_directories}
    moment = now or dt.datetime.now(dt.UTC)
    removed = []
    for directory in root.iterdir():
        if not directory.is_dir() or _in_use(directory, jobs, moment):
            continue
        remove(directory)
        removed.append(directory)
        log.warning("import.upload_removed", directory=directory.name)
    return removed


def _in_use(directory: Path, jobs: set[Path], now: dt.datetime) -> bool:
    try:
        modified = dt.datetime.fromtimestamp(directory.stat().st_mtime, dt.UTC)
        owner = (directory / OWNER_FILE).read_text().strip()
    except FileNotFoundError:
        # Made this instant (its owner not yet written), or removed meanwhile.
        return _recent(directory, now)
    if owner == JOB_OWNER:
        # Its job is being submitted (a moment's grace) or is not finished.
        return directory.resolve() in jobs or _recent(directory, now)
    alive = is_alive(owner)
    if alive is None:
        return modified > now - ORPHANED_AFTER
    return alive


def _recent(directory: Path, now: dt.datetime) -> bool:
    try:
        modified = dt.datetime.fromtimestamp(directory.stat().st_mtime, dt.UTC)
    except FileNotFoundError:
        return False
    return modified > now - GRACE
