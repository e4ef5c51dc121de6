"""What a photo upload may be: the image types a field visit's photos are kept in, recognised
by their first bytes (never by the name or the type the client claims)."""

from __future__ import annotations

import enum


class ImageType(enum.StrEnum):
    jpeg = "image/jpeg"
    png = "image/png"
    webp = "image/webp"


EXTENSIONS = {ImageType.jpeg: "jpg", ImageType.png: "png", ImageType.webp: "webp"}
# Bytes enough to recognise every type above.
SNIFF_BYTES = 12


def sniff_image(head: bytes) -> ImageType | None:
    """The image type ``head`` (a file's first bytes) begins, or None: not one we keep."""
    if head.startswith(b"\xff\xd8\xff"):
        return ImageType.jpeg
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return ImageType.png
    if len(head) >= 12 and head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return ImageType.webp
    return None
