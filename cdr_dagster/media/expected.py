"""The files a published Media version should produce (docs/behaviour-notes.md#media-files; cdr-lib
``Media.get_files``).

- sound (export suffix ``mp3``): ``audio/{id}.mp3`` with the blob's bytes;
- anything else is taken as an image: opened with Pillow, palette images converted to RGB,
  saved as JPEG quality 80 as ``images/{id}.jpg``; for each width in (571, 750), if it is less
  than the image's width, the image resized to (width, round(width * (h / w))) with LANCZOS and
  saved as JPEG quality 80 as ``images/{id}-{width}.jpg``, otherwise that file gets the bytes
  of the full-size JPEG.

A version without a blob, an image Pillow cannot read, or a mode JPEG cannot hold (RGBA) is an
error naming the version, which fails the whole check as it did in the legacy. The bytes match
the publishing push's only with the same Pillow version; otherwise every image reads as
"modified".
"""

from __future__ import annotations

import io
from dataclasses import dataclass

JPEG_QUALITY = 80
IMAGE_WIDTHS = (571, 750)


class MediaFileError(ValueError):
    """A version's files cannot be made (the message names the version)."""


@dataclass(frozen=True)
class MediaFile:
    """A relative path in the media set (``images/123.jpg``) and the bytes it should hold."""

    path: str
    data: bytes


def expected_files(doc_id: int, suffix: str, blob: bytes | None, name: str = "") -> list[MediaFile]:
    """The media files of one version, in the legacy's generation order."""
    label = name or f"CDR{doc_id}"
    if blob is None:
        raise MediaFileError(f"{label} has no blob")
    if suffix == "mp3":
        return [MediaFile(f"audio/{doc_id:d}.mp3", blob)]
    try:
        from PIL import Image
    except ImportError as exc:  # pragma: no cover - Pillow is a dependency of the media check
        raise MediaFileError("Pillow is not installed; images cannot be checked") from exc
    try:
        image = Image.open(io.BytesIO(blob))
        if image.mode == "P":
            image = image.convert("RGB")
        with io.BytesIO() as buffer:
            image.save(buffer, "JPEG", quality=JPEG_QUALITY)
            original = buffer.getvalue()
        files = [MediaFile(f"images/{doc_id:d}.jpg", original)]
        for width in IMAGE_WIDTHS:
            path = f"images/{doc_id:d}-{width:d}.jpg"
            if width < image.width:
                ratio = image.height / image.width  # the push's exact arithmetic
                height = int(round(width * ratio))
                scaled = image.resize((width, height), Image.LANCZOS)
                with io.BytesIO() as buffer:
                    scaled.save(buffer, "JPEG", quality=JPEG_QUALITY)
                    files.append(MediaFile(path, buffer.getvalue()))
            else:
                files.append(MediaFile(path, original))
        return files
    except (OSError, ValueError, SyntaxError) as exc:
        raise MediaFileError(f"{label} ({suffix}): cannot make its image files: {exc}") from exc
