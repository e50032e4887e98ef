"""Image files: which suffixes count as images, and opening one as RGB with a one-line error.

Task data, CSR's prompt images, its DPO data, the CLIP scorer and the world's training data all read
image files; they share this so that every unreadable image is reported the same way.
"""

from __future__ import annotations

import io
from pathlib import Path

from csr_bench.errors import CsrBenchError

IMAGE_FILE_TYPES = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp"}


def open_rgb(source: str | Path | bytes, where: str = ""):
    """The image at ``source`` (a file, or an encoded image's bytes) decoded as RGB, or a one-line
    ``CsrBenchError``: "WHERE: unreadable image PATH: reason" (``where`` names the document or prompt)."""
    from PIL import Image

    try:
        with Image.open(io.BytesIO(source) if isinstance(source, bytes) else source) as image:
            return image.convert("RGB")
    except (OSError, SyntaxError, ValueError) as exc:  # PIL's UnidentifiedImageError is an OSError
        shown = "" if isinstance(source, bytes) else f" {source}"
        raise CsrBenchError(f"{where + ': ' if where else ''}unreadable image{shown}: {exc}") from None


def image_files(folder: Path, what: str = "images") -> list[Path]:
    """The image files under ``folder``, sorted: the order CSR's prompt set draws its questions in
    (methods/prompts.py), which the world's preference sets repeat (world/preferences.py)."""
    folder = Path(folder)
    found = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_FILE_TYPES)
    if not found:
        raise CsrBenchError(f"{what}: no image files in {folder}")
    return found
