"""Files attached to a task: the photos of a field visit (实地外访并拍照). The bytes live under
the shared var directory, named by their SHA-256; a row says whose task, who uploaded, when."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import CheckConstraint, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from service.clock import utcnow
from service.db.models.base import Base, enum_column
from service.domain.attachments import ImageType


class TaskAttachment(Base):
    __tablename__ = "task_attachments"
    __table_args__ = (
        # The same picture twice on one task is one attachment.
        UniqueConstraint("task_id", "sha256"),
        CheckConstraint("size > 0", name="size_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("tasks.id", ondelete="CASCADE"), index=True)
    sha256: Mapped[str] = mapped_column(String(64))
    content_type: Mapped[ImageType] = mapped_column(enum_column(ImageType, "image_type"))
    size: Mapped[int] = mapped_column(Integer)
    # The name the uploader's device gave it (shown, never used as a path).
    filename: Mapped[str] = mapped_column(String(200), default="")
    uploaded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    uploaded_by: Mapped[str] = mapped_column(String(64))
    uploaded_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
