"""Writing files so that an interruption never leaves a half-written one, and the
project's folders.

Every file the project writes for later use (the downloaded archive, models, training
backups, figures, reports, executed notebooks) goes through :func:`atomic_path`: it is
written under a temporary name in the same folder and renamed into place only once
complete. A rename within one folder is atomic, so a reader sees the old file or the new
one, never a mixture, whenever the writer is killed.
"""

from __future__ import annotations

import contextlib
import os
import re
import uuid
from collections.abc import Iterator
from pathlib import Path

__all__ = ["atomic_path", "project_folder", "project_root", "shorten_paths"]


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


_ROOT = Path(__file__).resolve().parent.parent

#: Environment variable naming the folder of every notebook's figures
#: (:func:`cifar_utils.plotting.default_figure_dir`).
FIGURE_DIR_ENV_VAR = "CIFAR10_FIGURE_DIR"
#: Environment variable: ``lines`` makes :class:`cifar_utils.callbacks.EpochProgress` print
#: plain lines (the series runner sets it, so its log shows every epoch as it ends).
PROGRESS_ENV_VAR = "CIFAR10_PROGRESS"


def project_root() -> Path | None:
    """The project checkout this package runs from, or None when it was installed.

    A checkout is recognised by ``pyproject.toml`` and ``notebooks/`` beside the package.
    """
    return (
        _ROOT if (_ROOT / "pyproject.toml").is_file() and (_ROOT / "notebooks").is_dir() else None
    )


def project_folder(*parts: str) -> Path:
    """A folder of the project, whatever the working directory.

    ``project_folder("models")`` is ``models/`` in the checkout (JupyterLab, papermill or
    nbconvert started from any folder all get the same one), or ``./models`` in the working
    directory when the package was installed without a checkout (Colab). Not created.
    """
    root = project_root()
    return (root if root is not None else Path.cwd()).joinpath(*parts)


_ABSOLUTE_PATH = re.compile(r"(?<![\w.~])/[^\s,;:()'\"`]+")


def shorten_paths(text: str, root: Path | None = None, home: Path | None = None) -> str:
    """Write the absolute paths in ``text`` so that they hold on any machine.

    Paths in the checkout become relative to it (``.venv/bin/python``), paths in the home
    folder start with ``~``, other paths beside the checkout are relative to it
    (``../shared/...``); the rest stay. The notebooks print paths through it, so that
    their committed outputs show no developer's folders.

    Args:
        text: Any text.
        root: The checkout (default: :func:`project_root`, else the working directory).
        home: The home folder (default: ``Path.home()``).
    """
    root = root or project_root() or Path.cwd()
    home = home or Path.home()

    def shorten(match: re.Match[str]) -> str:
        path = Path(match.group())
        trailing = "/" if match.group().endswith("/") else ""
        if path.is_relative_to(root):
            return os.path.relpath(path, root) + trailing
        if path.is_relative_to(home) and home != Path(home.anchor):
            return str(Path("~") / path.relative_to(home)) + trailing
        if path.is_relative_to(root.parent) and root.parent != Path(root.anchor):
            return os.path.relpath(path, root) + trailing
        return match.group()

    return _ABSOLUTE_PATH.sub(shorten, text)
