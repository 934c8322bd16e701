"""Writing files so that an interruption never leaves a half-written one.

Every file the project writes for later use (the downloaded archive, models, training
backups, figures, reports, executed notebooks) goes through :func:`atomic_path`: it is
written under a temporary name in the same folder and renamed into place only once
complete. A rename within one folder is atomic, so a reader sees the old file or the new
one, never a mixture, whenever the writer is killed.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

__all__ = ["atomic_path"]


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Give a temporary path to write to; move it over ``path`` when the block succeeds.

    Use it as::

        with files.atomic_path("../models/resnet.keras") as temporary:
            model.save(temporary)

    The temporary file lies in the same folder as ``path`` (created if missing), its name
    starts with a dot, is unique to this call and ends with the same suffixes as ``path``
    (``.keras``, ``.weights.h5``, ``.tar.gz``): some writers, Keras among them, insist on
    them. The file is not created in advance, so it gets the usual permissions (umask).

    If the block raises (or is interrupted), the temporary file is deleted and ``path`` is
    left as it was. If the block succeeds without writing the file, ``FileNotFoundError``
    is raised and ``path`` is left as it was.

    Args:
        path: The file to write.

    Yields:
        The temporary path to write the complete file to.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    suffixes = "".join(target.suffixes)
    base = target.name[: len(target.name) - len(suffixes)] or target.name
    temporary = target.with_name(f".{base}.{os.getpid()}-{uuid.uuid4().hex[:12]}.partial{suffixes}")
    try:
        yield temporary
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)
