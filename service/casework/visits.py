"""Field visits (外访): closing a visit with what it found, and the photos taken there.

A visit closes with an outcome from :class:`~service.domain.casework.VisitOutcome`; the outcome
decides the task's state (a visit that did not find the debtor fails, and two failed visits
send the account to an agency). The source policies ask for a photographed visit (实地外访并
拍照) and for checks of those photos (抽查外访照片): photos are kept under the shared var
directory, named by their SHA-256, and listed on the task for whoever may see its account.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import os
import secrets
import unicodedata
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from service import audit
from service.auth import CurrentUser
from service.clock import utcnow
from service.db.models import Borrower, Loan, Task, TaskAttachment
from service.domain.attachments import EXTENSIONS, SNIFF_BYTES, ImageType, sniff_image
from service.domain.casework import TaskKind, TaskStatus, VisitOutcome, visit_status
from service.domain.ptp import terms_problems
from service.errors import ArrearsError, Conflict, NotFound, ValidationFailed

PHOTO_DIR = "attachments"
OUTCOMES = ", ".join(VisitOutcome)


@dataclasses.dataclass(frozen=True, slots=True)
class VisitPromise:
    """What the debtor promised at the door: an amount on a date."""

    amount: Decimal
    promised_on: dt.date


def visit_closing(
    status: str | None,
    outcome: str | None,
    promise: VisitPromise | None,
    today: dt.date,
) -> tuple[TaskStatus, VisitOutcome | None, dict[str, Any] | None]:
    """How a field visit closes: (task state, outcome, details). The outcome is required (a
    visit called off is ``cancelled`` without one); a stated status must be the outcome's;
    a promise needs an amount and a date from today, and only a promise takes them."""
    if outcome is None:
        if status == TaskStatus.cancelled:
            if promise is not None:
                raise _invalid("promise", "a cancelled visit records no promise")
            return TaskStatus.cancelled, None, None
        raise _invalid("outcome", f"a field visit is closed with its outcome: one of {OUTCOMES}")
    try:
        found = VisitOutcome(outcome)
    except ValueError:
        raise _invalid("outcome", f"outcome must be one of {OUTCOMES}") from None
    derived = visit_status(found)
    if status is not None and status != derived:
        raise _invalid("status", f"outcome {found} closes a visit as {derived}, not {status}")
    if found is not VisitOutcome.promise:
        if promise is not None:
            raise _invalid("promise", "only the outcome promise records a promise")
        return derived, found, None
    if promise is None:
        raise _invalid("promise", "outcome promise needs the promised amount and date")
    problems = terms_problems(promise.amount, promise.promised_on, today)
    if problems:  # the promise the contact log will store: the same terms as any other
        raise ValidationFailed(
            f"the promise's {problems[0]['field']}: {problems[0]['reason']}",
            details=[{**p, "field": f"promise.{p['field']}"} for p in problems],
        )
    details = {
        "promise": {
            "amount": f"{promise.amount:.2f}",
            "promised_on": promise.promised_on.isoformat(),
        }
    }
    return derived, found, details


def _invalid(field: str, reason: str) -> ValidationFailed:
    return ValidationFailed(reason, details=[{"field": field, "reason": reason}])


# --- photos --------------------------------------------------------------------------------------


class PhotoTooLarge(ArrearsError):
    """An upload past the configured size (the web layer answers 413)."""

    code = "too_large"


@dataclasses.dataclass(frozen=True, slots=True)
class StoredPhoto:
    sha256: str
    size: int
    content_type: ImageType


def photo_path(var_dir: Path, sha256: str) -> Path:
    """Where a photo's bytes live: content addressed, so a picture is stored once."""
    return var_dir / PHOTO_DIR / sha256[:2] / sha256


class PhotoWriter:
    """Receives an upload chunk by chunk: hashes, counts and spools it to a scratch file, then
    :meth:`finish` keeps it under its hash if it is an image (:meth:`discard` otherwise)."""

    def __init__(self, var_dir: Path, limit: int) -> None:
        self.var_dir, self.limit = var_dir, limit
        scratch = var_dir / PHOTO_DIR / "incoming"
        scratch.mkdir(parents=True, exist_ok=True)
        self.scratch = scratch / secrets.token_hex(16)
        self.handle = self.scratch.open("wb")
        self.digest = hashlib.sha256()
        self.size = 0
        self.head = b""

    def write(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.size > self.limit:
            raise PhotoTooLarge(f"a photo is at most {self.limit} bytes")
        if len(self.head) < SNIFF_BYTES:
            self.head += chunk[: SNIFF_BYTES - len(self.head)]
        self.digest.update(chunk)
        self.handle.write(chunk)

    def finish(self) -> StoredPhoto:
        self.handle.close()
        kind = sniff_image(self.head)
        if self.size == 0 or kind is None:
            self.discard()
            accepted = ", ".join(t.value for t in ImageType)
            raise _invalid("photo", f"a photo is an image file: {accepted}")
        sha = self.digest.hexdigest()
        final = photo_path(self.var_dir, sha)
        final.parent.mkdir(parents=True, exist_ok=True)
        # Same name, same bytes: a second copy of a picture is dropped, the first one kept.
        os.replace(self.scratch, final)
        return StoredPhoto(sha, self.size, kind)

    def discard(self) -> None:
        self.handle.close()
        self.scratch.unlink(missing_ok=True)


def clean_filename(name: str | None) -> str:
    """The device's name for the file, shown as a label only: its last part, no control
    characters, 200 characters at most."""
    base = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    printable = "".join(c for c in base if unicodedata.category(c)[0] != "C")
    return printable.strip()[:200]


async def visible_task(conn: AsyncConnection, task_id: int, visible: Any) -> Any:
    """The task (id, kind, status, loan_ref) if the caller may see its account: else 404."""
    row = (
        await conn.execute(
            select(Task.id, Task.kind, Task.status, Loan.loan_ref)
            .join(Loan, Loan.id == Task.loan_id)
            .join(Borrower, Borrower.id == Loan.borrower_id)
            .where(Task.id == task_id, visible)
        )
    ).one_or_none()
    if row is None:
        raise NotFound(f"task {task_id} not found")
    return row


async def photo_task(conn: AsyncConnection, task_id: int, visible: Any) -> Any:
    """A task photos may be attached to: a field visit the caller may see."""
    row = await visible_task(conn, task_id, visible)
    if row.kind != TaskKind.field_visit:
        raise Conflict(f"task {task_id} is a {row.kind}: photos belong to field visits")
    return row


async def add_photo(
    conn: AsyncConnection,
    task_id: int,
    visible: Any,
    photo: StoredPhoto,
    filename: str,
    uploader: CurrentUser | None,
    actor: str,
) -> tuple[dict[str, Any], bool]:
    """Attach a stored photo to a visit (audited); (the photo, created). The same picture
    again on the same task is the attachment already there."""
    task = await photo_task(conn, task_id, visible)
    existing = await _attachment(conn, task_id, photo.sha256)
    if existing is not None:
        return existing, False
    values = {
        "task_id": task_id,
        "sha256": photo.sha256,
        "content_type": photo.content_type,
        "size": photo.size,
        "filename": filename,
        "uploaded_by_id": uploader.id if uploader else None,
        "uploaded_by": actor,
        "uploaded_at": utcnow(),
    }
    try:
        async with conn.begin_nested():
            await conn.execute(insert(TaskAttachment).values(**values))
    except IntegrityError:  # the same picture, stored by a concurrent request
        found = await _attachment(conn, task_id, photo.sha256)
        if found is None:
            raise
        return found, False
    stored = await _attachment(conn, task_id, photo.sha256)
    assert stored is not None
    photos = int(
        await conn.scalar(select(func.count()).where(TaskAttachment.task_id == task_id)) or 0
    )
    await audit.record(
        conn,
        actor=actor,
        actor_id=uploader.id if uploader else None,
        action="task.photo_added",
        entity_type="loan",
        entity_ref=task.loan_ref,
        details={
            "task": task_id,
            "photo": stored["id"],
            "sha256": photo.sha256,
            "size": photo.size,
            "content_type": photo.content_type.value,
            "before": {"photos": photos - 1},
            "after": {"photos": photos},
        },
    )
    return stored, True


_COLUMNS = (
    TaskAttachment.id,
    TaskAttachment.task_id,
    TaskAttachment.sha256,
    TaskAttachment.content_type,
    TaskAttachment.size,
    TaskAttachment.filename,
    TaskAttachment.uploaded_by,
    TaskAttachment.uploaded_at,
)


async def _attachment(conn: AsyncConnection, task_id: int, sha256: str) -> dict[str, Any] | None:
    row = (
        await conn.execute(
            select(*_COLUMNS).where(
                TaskAttachment.task_id == task_id, TaskAttachment.sha256 == sha256
            )
        )
    ).one_or_none()
    return None if row is None else dict(row._mapping)


async def list_photos(conn: AsyncConnection, task_id: int, visible: Any) -> list[dict[str, Any]]:
    """A visit's photos, oldest first (404 unless the caller may see the task)."""
    await photo_task(conn, task_id, visible)
    rows = await conn.execute(
        select(*_COLUMNS).where(TaskAttachment.task_id == task_id).order_by(TaskAttachment.id)
    )
    return [dict(row._mapping) for row in rows]


async def photo_file(
    conn: AsyncConnection, task_id: int, photo_id: int, visible: Any, var_dir: Path
) -> tuple[Path, ImageType, str]:
    """(the bytes' path, the image type, a download name) of one photo of a visible task."""
    await photo_task(conn, task_id, visible)
    row = (
        await conn.execute(
            select(TaskAttachment.sha256, TaskAttachment.content_type).where(
                TaskAttachment.id == photo_id, TaskAttachment.task_id == task_id
            )
        )
    ).one_or_none()
    if row is None:
        raise NotFound(f"photo {photo_id} of task {task_id} not found")
    path = photo_path(var_dir, row.sha256)
    if not path.is_file():
        raise NotFound(f"photo {photo_id}'s file is missing from the var directory")
    kind = ImageType(row.content_type)
    return path, kind, f"task-{task_id}-photo-{photo_id}.{EXTENSIONS[kind]}"
