"""Find, download, check and load CIFAR-10 (the "python version" of the dataset).

Typical use, in a notebook::

    from cifar_utils import data

    (x_train, y_train), (x_test, y_test) = data.load_cifar10()
    (x_train, y_train), (x_val, y_val) = data.split_train_val(x_train, y_train)

Where the data comes from, first match wins (:func:`find_cifar10`):

1. the ``path=`` argument;
2. ``$CIFAR10_PATH``: a ``cifar-10-python.tar.gz``, an extracted ``cifar-10-batches-py/``
   folder, or the folder that holds either;
3. the cache, :func:`default_data_dir` (the project's ``data/`` folder in a checkout);
4. Keras's own cache (``$KERAS_HOME`` or ``~/.keras``, then ``datasets/``);
5. a download of the official archive into the cache, checked against its sha256.

An archive is extracted once into ``default_data_dir() / "cifar-10-batches-py"``; later loads
of the same archive read the extracted files. The extraction notes which archive the files
came from and whether they are the official ones: the archive's own sha256 is
:data:`OFFICIAL_SHA256`, or each of its eight files has its sha256 in
:data:`OFFICIAL_MEMBER_SHA256` (a repackaged archive of the official files);
:func:`compute_content_check` compares any copy the same way. Everything read is checked: the
pickles are read with an unpickler that can only rebuild numpy arrays (a file that tries to
run code is refused), archive members that would land outside the cache are refused, and
shapes, dtypes and labels are validated. Bad data raises :class:`CifarDataError` (a
``ValueError``) naming the file, what was wrong and what to do; missing data raises
``FileNotFoundError``.

Importing this module is cheap (numpy and the standard library only) and changes no global
state.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import http.client
import json
import os
import pickle
import posixpath
import shutil
import tarfile
import tempfile
import time
import types
import urllib.error
import urllib.request
import zlib
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, BinaryIO, Literal, NamedTuple

import numpy as np

from cifar_utils import files

CLASS_NAMES: tuple[str, ...] = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)
"""Class names in label order: ``CLASS_NAMES[y]`` is the name of label ``y``."""

NUM_CLASSES = 10
OFFICIAL_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
OFFICIAL_SHA256 = "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce"
"""sha256 of the official archive: a download is checked against it."""
OFFICIAL_MEMBER_SHA256: Mapping[str, str] = types.MappingProxyType(
    {
        "data_batch_1": "54636561a3ce25bd3e19253c6b0d8538147b0ae398331ac4a2d86c6d987368cd",
        "data_batch_2": "766b2cef9fbc745cf056b3152224f7cf77163b330ea9a15f9392beb8b89bc5a8",
        "data_batch_3": "0f00d98ebfb30b3ec0ad19f9756dc2630b89003e10525f5e148445e82aa6a1f9",
        "data_batch_4": "3f7bb240661948b8f4d53e36ec720d8306f5668bd0071dcb4e6c947f78e9682b",
        "data_batch_5": "d91802434d8376bbaeeadf58a737e3a1b12ac839077e931237e0dcd43adcb154",
        "test_batch": "f53d8d457504f7cff4ea9e021afcf0e0ad8e24a91f3fc42091b8adef61157831",
        "batches.meta": "f962466ef690d46b226450fb9aadc74ba4bc64a76aa526b5827fe4bc5c7125cb",
        "readme.html": "4d1c3fb199d6a183ae03f5162b469d7bc04edf2fad9547bd5f224271d52f98e5",
    }
)
"""sha256 of each of the eight files in the official archive, keyed by the file's name inside
``cifar-10-batches-py/``. They recognise the official content in a repackaged archive or an
extracted folder (:func:`compute_content_check`); a download is still checked against
:data:`OFFICIAL_SHA256`, the archive's own sum."""
PATH_ENV_VAR = "CIFAR10_PATH"
"""Environment variable naming a local copy: a .tar.gz, a cifar-10-batches-py/ folder or its
parent."""
DATA_DIR_ENV_VAR = "CIFAR10_DATA_DIR"
"""Environment variable that moves the cache (see :func:`default_data_dir`)."""

ARCHIVE_NAME = "cifar-10-python.tar.gz"
FOLDER_NAME = "cifar-10-batches-py"
TRAIN_BATCH_NAMES: tuple[str, ...] = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_BATCH_NAME = "test_batch"
META_NAME = "batches.meta"
IMAGE_SHAPE = (32, 32, 3)

_BATCH_FILE_NAMES = (*TRAIN_BATCH_NAMES, TEST_BATCH_NAME, META_NAME)
_README_NAME = "readme.html"  # in the archive, but not needed: never extracted
_PIXELS_PER_IMAGE = 32 * 32 * 3
# Written inside the extracted folder: which archive the folder came from.
_MARKER_NAME = ".cifar_utils_source.json"
_MARKER_FORMAT = 1
# The real batch files are 31 MB; refuse members far larger than that (a gzip bomb would
# otherwise fill the disk before the pickle checks ran).
_MAX_MEMBER_BYTES = 256 * 2**20
_CHUNK_BYTES = 2**20
_IMAGES_PER_BLOCK = 256
# An archive modified less than this before its extraction was recorded gets its sha256
# checked on every load (file systems store modification times in coarse ticks).
_RACY_MTIME_NS = 2_000_000_000
_DOWNLOAD_TIMEOUT_S = 60
_KERAS_DIR_CANDIDATES = (
    "cifar-10-batches-py",  # Keras 2: extracted straight into datasets/
    "cifar-10-batches-py-target/cifar-10-batches-py",  # Keras 3
)
_KERAS_ARCHIVE_CANDIDATES = (
    "cifar-10-batches-py-target_archive",  # Keras 3 keeps the download under this name
    "cifar-10-batches-py.tar.gz",  # Keras 2
)
# The checkout this module runs from, if any (patched by the tests).
_CHECKOUT_ROOT = Path(__file__).resolve().parent.parent

_PATH_ADVICE = (
    f"pass path= or set {PATH_ENV_VAR} to a good copy of {ARCHIVE_NAME} "
    f"(or of its extracted {FOLDER_NAME}/ folder)"
)


class CifarDataError(ValueError):
    """The CIFAR-10 data is corrupt or invalid; the message names the file and what to do."""


class ChecksumError(CifarDataError):
    """A downloaded file's sha256 differs from the expected one."""


# --------------------------------------------------------------------------------------
# Where the data lives
# --------------------------------------------------------------------------------------


def default_data_dir() -> Path:
    """Return the folder that holds the download and the extracted cache.

    ``$CIFAR10_DATA_DIR`` if it is set; otherwise the project's ``data/`` folder when the
    package runs from a checkout (``data/README.md`` next to ``pyproject.toml``); otherwise
    ``~/.cache/cifar_utils``. The folder is not created here.

    Returns:
        The cache folder (it may not exist yet).
    """
    configured = os.environ.get(DATA_DIR_ENV_VAR)
    if configured:
        return Path(configured).expanduser()
    root = _CHECKOUT_ROOT
    if (root / "pyproject.toml").is_file() and (root / "data" / "README.md").is_file():
        return root / "data"
    return Path.home() / ".cache" / "cifar_utils"


def _keras_datasets_dir() -> Path:
    keras_home = os.environ.get("KERAS_HOME")
    base = Path(keras_home).expanduser() if keras_home else Path.home() / ".keras"
    return base / "datasets"


def _resolve_given(path: Path) -> Path | None:
    """Map a user-given path to a batches folder or an archive, or None if unusable."""
    if path.is_file():
        # A batch file itself: use the folder it sits in.
        return path.parent if path.name in _BATCH_FILE_NAMES else path
    if path.is_dir():
        if path.name == FOLDER_NAME or any((path / name).is_file() for name in _BATCH_FILE_NAMES):
            return path
        if (path / FOLDER_NAME).is_dir():
            return path / FOLDER_NAME
        if (path / ARCHIVE_NAME).is_file():
            return path / ARCHIVE_NAME
    return None


def find_cifar10(path: str | os.PathLike[str] | None = None) -> Path:
    """Locate CIFAR-10 on disk without loading or downloading anything.

    Args:
        path: A ``cifar-10-python.tar.gz``, an extracted ``cifar-10-batches-py/`` folder, or
            the folder that holds either. ``None`` searches, in order: ``$CIFAR10_PATH``, the
            cache :func:`default_data_dir` (extracted folder, then archive), and Keras's cache
            (``$KERAS_HOME`` or ``~/.keras``, ``datasets/``: ``cifar-10-batches-py/``,
            ``cifar-10-batches-py-target/cifar-10-batches-py/``,
            ``cifar-10-batches-py-target_archive``, ``cifar-10-batches-py.tar.gz``).

    Returns:
        The path of a ``cifar-10-batches-py`` folder or of an archive (``.tar.gz``).

    Raises:
        FileNotFoundError: Nothing usable was found; the message lists the places looked at
            and how to fix it.
    """
    if path is not None:
        given = Path(path).expanduser()
        found = _resolve_given(given)
        if found is None:
            what = "does not exist" if not given.exists() else "holds no CIFAR-10 data"
            raise FileNotFoundError(
                f"{given} {what}: expected {ARCHIVE_NAME}, an extracted {FOLDER_NAME}/ folder "
                "or the folder that holds either. Check the path."
            )
        return found

    from_env = os.environ.get(PATH_ENV_VAR)
    if from_env:
        found = _resolve_given(Path(from_env).expanduser())
        if found is None:
            raise FileNotFoundError(
                f"${PATH_ENV_VAR} is set to {from_env!r}, but there is no {ARCHIVE_NAME}, "
                f"{FOLDER_NAME}/ folder or folder holding either there. Fix or unset "
                f"{PATH_ENV_VAR}."
            )
        return found

    data_dir = default_data_dir()
    folder, archive = data_dir / FOLDER_NAME, data_dir / ARCHIVE_NAME
    ignored = ignored_cache_note()
    if folder.is_dir() and not ignored:
        marker = _read_marker(folder)
        # The cache holds another archive's files, and this archive is here: let the
        # extraction step decide whether they match (it re-extracts if not).
        if marker is not None and archive.is_file() and marker["archive"] != str(archive.resolve()):
            return archive
        return folder
    if archive.is_file():
        return archive

    keras_dir = _keras_datasets_dir()
    for name in _KERAS_DIR_CANDIDATES:
        if (keras_dir / name).is_dir():
            return keras_dir / name
    for name in _KERAS_ARCHIVE_CANDIDATES:
        if (keras_dir / name).is_file():
            return keras_dir / name

    looked_at = [
        f"${PATH_ENV_VAR} (not set)",
        str(folder),
        str(archive),
        *(str(keras_dir / name) for name in _KERAS_DIR_CANDIDATES + _KERAS_ARCHIVE_CANDIDATES),
    ]
    raise FileNotFoundError(
        "CIFAR-10 was not found. Looked at:\n  "
        + "\n  ".join(looked_at)
        + (f"\n{ignored}" if ignored else "")
        + f"\nTo fix: {_PATH_ADVICE}, or download it with download_cifar10() "
        "(load_cifar10() does so by default)."
    )


def ignored_cache_note() -> str:
    """Say why the extracted folder in the cache is not used when no path is given, if so.

    A folder put there by hand (no note of its source), or extracted from the cache's own
    archive (a download), is used. A folder extracted on behalf of another archive
    (``$CIFAR10_PATH`` or a notebook's ``DATA_PATH`` at the time) only if it holds the
    official files: otherwise a later run that asked for no particular copy would train
    on, say, the tests' synthetic images as if they were CIFAR-10.

    Returns:
        One sentence naming the folder, where its files came from and what to do; ``""``
        when the cache holds no folder or one that may be used.
    """
    folder = default_data_dir() / FOLDER_NAME
    if not folder.is_dir():
        return ""
    marker = _read_marker(folder)
    archive = default_data_dir() / ARCHIVE_NAME
    if marker is None or marker["archive"] == str(archive.resolve()):
        return ""
    if _cache_content(folder, marker).official:
        return ""
    return (
        f"{folder} was ignored: it holds files extracted from {marker['archive']}, which are "
        "not the official CIFAR-10 files (a copy asked for once, e.g. the tests' synthetic "
        f"archive). To use that copy, set {PATH_ENV_VAR}={marker['archive']}; to get rid of "
        f"it, delete {folder}."
    )


# --------------------------------------------------------------------------------------
# Download
# --------------------------------------------------------------------------------------


def _open_url(url: str, timeout: float) -> Any:
    """Open `url` for reading (patched by the tests; any urllib URL, file:// included)."""
    return urllib.request.urlopen(url, timeout=timeout)  # the caller checks the sha256


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        while chunk := file.read(_CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def _make_dir(directory: Path) -> None:
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OSError(
            f"cannot create the CIFAR-10 cache folder {directory} ({exc}). "
            f"Set {DATA_DIR_ENV_VAR} to a folder you can write to."
        ) from exc


def download_cifar10(
    directory: str | os.PathLike[str] | None = None,
    *,
    url: str = OFFICIAL_URL,
    sha256: str = OFFICIAL_SHA256,
    progress: bool = True,
) -> Path:
    """Download the CIFAR-10 archive, check its sha256 and save it as ``cifar-10-python.tar.gz``.

    The file is streamed into a temporary file in `directory` and renamed into place only
    after its sha256 matched, so a failed or interrupted download leaves nothing behind that
    a later call would trust. If a file with the right hash is already there, nothing is
    downloaded.

    Args:
        directory: Where to save the archive; ``None`` means :func:`default_data_dir`.
        url: Where to download from (any URL urllib opens, ``file://`` included).
        sha256: Expected sha256 of the file, hex.
        progress: Show a progress bar (tqdm).

    Returns:
        Path of the verified archive, ``directory / "cifar-10-python.tar.gz"``.

    Raises:
        OSError: The download failed (offline? behind a proxy?); the message says what to do.
        ChecksumError: The downloaded file's sha256 is not `sha256`.
    """
    directory = Path(directory).expanduser() if directory is not None else default_data_dir()
    expected = sha256.strip().lower()
    target = directory / ARCHIVE_NAME
    if target.is_file() and _file_sha256(target) == expected:
        return target
    _make_dir(directory)

    from tqdm.auto import tqdm  # imported here: only a download needs it

    with files.atomic_path(target) as temporary:
        digest = hashlib.sha256()
        with open(temporary, "wb") as out:
            try:
                with _open_url(url, _DOWNLOAD_TIMEOUT_S) as response:
                    length = response.headers.get("Content-Length") if response.headers else None
                    total = int(length) if length and length.isdigit() else None
                    with tqdm(
                        total=total,
                        unit="B",
                        unit_scale=True,
                        unit_divisor=1024,
                        desc=ARCHIVE_NAME,
                        disable=not progress,
                    ) as bar:
                        while chunk := response.read(_CHUNK_BYTES):
                            out.write(chunk)
                            digest.update(chunk)
                            bar.update(len(chunk))
            except (OSError, http.client.HTTPException, ValueError) as exc:
                # URLError/HTTPError/timeouts are OSErrors; IncompleteRead is an
                # HTTPException; a malformed URL is a ValueError.
                raise OSError(
                    f"could not download {url}: {exc}. Are you offline or behind a proxy? "
                    f"Download {ARCHIVE_NAME} another way and set {PATH_ENV_VAR}=/path/to/it "
                    "(or pass path=)."
                ) from exc
        actual = digest.hexdigest()
        if actual != expected:
            raise ChecksumError(
                f"{url}: the downloaded file has sha256 {actual}, expected {expected}: the "
                "download was corrupted or the file on the server changed. It was deleted; "
                f"try again, or get {ARCHIVE_NAME} another way and set {PATH_ENV_VAR}."
            )
    return target


# --------------------------------------------------------------------------------------
# Recognising the official content
# --------------------------------------------------------------------------------------

Content = Literal["official archive", "official content", "not official"]
"""How a copy compares with the official release (see :class:`ContentCheck`)."""
# Stands for the sha256 of a member that appears twice in an archive: never official.
_DUPLICATE_MEMBER = "appears twice"


class ContentCheck(NamedTuple):
    """How a copy of CIFAR-10 compares with the official release, file by file.

    Attributes:
        content: ``"official archive"`` (the archive's own sha256 is :data:`OFFICIAL_SHA256`),
            ``"official content"`` (all eight files match :data:`OFFICIAL_MEMBER_SHA256`: a
            repackaged archive or an extracted folder of the official release) or
            ``"not official"``.
        differing: Files present whose sha256 is not the official one, by name inside
            ``cifar-10-batches-py/``, in the order of :data:`OFFICIAL_MEMBER_SHA256`.
        missing: Official files that the copy lacks, same names and order.
        archive_sha256: The archive's own sha256 (hex); ``None`` for an extracted folder.
    """

    content: Content
    differing: tuple[str, ...]
    missing: tuple[str, ...]
    archive_sha256: str | None = None

    @property
    def official(self) -> bool:
        """Whether the copy holds the official data: the official archive or its eight files."""
        return self.content != "not official"


def _content_check(
    digests: Mapping[str, str],
    archive_sha256: str | None = None,
    *,
    may_lack: tuple[str, ...] = (),
) -> ContentCheck:
    """Compare member sha256 sums (name inside the folder -> hex) with the official ones.

    Members named in `may_lack` are not counted as missing when absent.
    """
    expected = OFFICIAL_MEMBER_SHA256  # looked up on each call: the tests replace it
    missing = tuple(name for name in expected if name not in digests and name not in may_lack)
    differing = tuple(
        name for name in expected if name in digests and digests[name] != expected[name]
    )
    content: Content
    if archive_sha256 == OFFICIAL_SHA256:
        content = "official archive"
    elif not missing and not differing:
        content = "official content"
    else:
        content = "not official"
    return ContentCheck(content, differing, missing, archive_sha256)


def compute_content_check(path: str | os.PathLike[str]) -> ContentCheck:
    """Compare a copy of CIFAR-10 with the official release, file by file.

    The archive's own sha256 only recognises the official download; a repackaged archive
    (new tar headers or gzip stream) or an extracted folder holding the very same files is
    recognised here by the sha256 of each of its eight files (:data:`OFFICIAL_MEMBER_SHA256`).
    Files other than those eight are ignored. Nothing is written.

    Args:
        path: An extracted ``cifar-10-batches-py/`` folder (the files directly inside it), or
            an archive (``.tar.gz`` or ``.tar``, under any name), which is read in one
            streaming pass that hashes the archive and each of its files without extracting
            them (about 2 s for the 163 MiB archive).

    Returns:
        The comparison; for an archive, ``archive_sha256`` holds the archive's own sha256.

    Raises:
        FileNotFoundError: Nothing is at `path`.
        CifarDataError: The archive is not a readable tar or tar.gz (truncated or corrupt).
    """
    path = Path(path).expanduser()
    if path.is_dir():
        return _content_check(
            {
                name: _file_sha256(path / name)
                for name in OFFICIAL_MEMBER_SHA256
                if (path / name).is_file()
            }
        )
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} does not exist: expected {ARCHIVE_NAME} or an extracted {FOLDER_NAME}/ "
            "folder. Check the path."
        )
    return _scan_archive(path, advice="Replace it with a good copy.")


# --------------------------------------------------------------------------------------
# Safe unpickling and validation of the batch files
# --------------------------------------------------------------------------------------


def _numpy_multiarray() -> Any:
    if np.lib.NumpyVersion(np.__version__) >= "2.0.0":
        from numpy._core import multiarray
    else:  # pragma: no cover - numpy 1.x
        from numpy.core import multiarray
    return multiarray


_MULTIARRAY = _numpy_multiarray()
# Everything a CIFAR-10 pickle needs besides dicts, lists, bytes, str and int (which need
# no lookup): numpy array and scalar reconstruction, under the numpy 1 and numpy 2 module
# names. Nothing else is ever looked up, so a pickle cannot call os.system, eval, ...
_ALLOWED_GLOBALS: dict[tuple[str, str], Any] = {
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("numpy.core.multiarray", "_reconstruct"): _MULTIARRAY._reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _MULTIARRAY._reconstruct,
    ("numpy.core.multiarray", "scalar"): _MULTIARRAY.scalar,
    ("numpy._core.multiarray", "scalar"): _MULTIARRAY.scalar,
}


class _RestrictedUnpickler(pickle.Unpickler):
    """Unpickler that can rebuild numpy arrays and builtin containers, and nothing else."""

    def __init__(self, file: BinaryIO, *, name: str, advice: str) -> None:
        # encoding="bytes": the official files were pickled by Python 2.
        super().__init__(file, encoding="bytes")
        self._name = name
        self._advice = advice

    def find_class(self, module: str, name: str) -> Any:
        try:
            return _ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise CifarDataError(
                f"{self._name}: refused to load the Python object {module}.{name}: CIFAR-10 "
                "files only contain numpy arrays, lists, numbers and bytes, so this file is "
                f"corrupt or was made to run code. Nothing was run. {self._advice}"
            ) from None


def _unpickle(path: Path, *, name: str, advice: str) -> Any:
    with open(path, "rb") as file:
        try:
            return _RestrictedUnpickler(file, name=name, advice=advice).load()
        except CifarDataError:
            raise
        except Exception as exc:  # anything a damaged pickle can raise (EOFError, ...)
            raise CifarDataError(
                f"{name}: not a readable CIFAR-10 pickle ({type(exc).__name__}: {exc}). {advice}"
            ) from exc


def _as_str_keys(obj: Any, *, name: str, advice: str, expected: str) -> dict[str, Any]:
    if not isinstance(obj, dict):
        raise CifarDataError(
            f"{name}: expected a pickled dict with {expected}, found a {type(obj).__name__}. "
            f"{advice}"
        )
    return {
        (key.decode("latin-1") if isinstance(key, bytes) else str(key)): value
        for key, value in obj.items()
    }


def _check_batch(obj: Any, *, name: str, advice: str) -> tuple[np.ndarray, np.ndarray]:
    """Validate one unpickled batch; return data (n, 3072) uint8 and labels (n,) int64."""
    batch = _as_str_keys(obj, name=name, advice=advice, expected="'data' and 'labels'")
    missing = [key for key in ("data", "labels") if key not in batch]
    if missing:
        raise CifarDataError(f"{name}: missing key(s) {missing} in the batch dict. {advice}")
    data = batch["data"]
    if (
        not isinstance(data, np.ndarray)
        or data.dtype != np.uint8
        or data.ndim != 2
        or data.shape[0] == 0
        or data.shape[1] != _PIXELS_PER_IMAGE
    ):
        found = (
            f"{data.dtype} array of shape {data.shape}"
            if isinstance(data, np.ndarray)
            else type(data).__name__
        )
        raise CifarDataError(
            f"{name}: 'data' must be a uint8 array of shape (n, {_PIXELS_PER_IMAGE}) with "
            f"n >= 1, found a {found}. {advice}"
        )
    labels = batch["labels"]
    try:
        labels_array = np.asarray(labels) if isinstance(labels, (list, tuple, np.ndarray)) else None
    except (ValueError, TypeError, OverflowError):
        labels_array = None
    if labels_array is None or labels_array.ndim != 1:
        raise CifarDataError(
            f"{name}: 'labels' must be a flat list of integers, found {type(labels).__name__}. "
            f"{advice}"
        )
    if len(labels_array) != len(data):
        raise CifarDataError(f"{name}: {len(data)} images but {len(labels_array)} labels. {advice}")
    if not np.issubdtype(labels_array.dtype, np.integer):
        raise CifarDataError(
            f"{name}: 'labels' must be integers, found {labels_array.dtype} values. {advice}"
        )
    out_of_range = (labels_array < 0) | (labels_array >= NUM_CLASSES)
    if out_of_range.any():
        bad = labels_array[out_of_range]
        raise CifarDataError(
            f"{name}: {bad.size} label(s) outside 0-{NUM_CLASSES - 1} (e.g. {bad[0]}). {advice}"
        )
    return data, labels_array.astype(np.int64)


def _check_meta(obj: Any, *, name: str, advice: str) -> None:
    meta = _as_str_keys(obj, name=name, advice=advice, expected="'label_names'")
    names = meta.get("label_names")
    if names is None:
        return
    try:
        decoded = tuple(n.decode("utf-8") if isinstance(n, bytes) else n for n in names)
    except (TypeError, UnicodeDecodeError):
        decoded = None
    if decoded != CLASS_NAMES:
        raise CifarDataError(
            f"{name}: label_names are {names!r}, not CIFAR-10's {list(CLASS_NAMES)}: this is "
            f"not the CIFAR-10 python version. {advice}"
        )


class _Batches(NamedTuple):
    train_data: list[np.ndarray]  # 5 arrays, uint8 (n_i, 3072)
    train_labels: list[np.ndarray]  # 5 arrays, int64 (n_i,)
    test_data: np.ndarray
    test_labels: np.ndarray


def _read_folder(folder: Path, *, name_of: Callable[[str], str], advice: str) -> _Batches:
    """Read and validate the batch files of an extracted cifar-10-batches-py folder."""
    missing = [n for n in (*TRAIN_BATCH_NAMES, TEST_BATCH_NAME) if not (folder / n).is_file()]
    if missing:
        raise FileNotFoundError(
            f"{folder}: missing {', '.join(missing)} (CIFAR-10 has data_batch_1 to "
            f"data_batch_5 and test_batch). {advice}"
        )
    if (folder / META_NAME).is_file():
        meta_name = name_of(META_NAME)
        obj = _unpickle(folder / META_NAME, name=meta_name, advice=advice)
        _check_meta(obj, name=meta_name, advice=advice)

    def read(batch: str) -> tuple[np.ndarray, np.ndarray]:
        batch_name = name_of(batch)
        obj = _unpickle(folder / batch, name=batch_name, advice=advice)
        return _check_batch(obj, name=batch_name, advice=advice)

    train = [read(batch) for batch in TRAIN_BATCH_NAMES]
    test_data, test_labels = read(TEST_BATCH_NAME)
    return _Batches(
        [data for data, _ in train], [labels for _, labels in train], test_data, test_labels
    )


def _to_images(batches: list[np.ndarray]) -> np.ndarray:
    """Concatenate (n, 3072) R,G,B-plane rows into one uint8 (N, 32, 32, 3) array."""
    images = np.empty((sum(len(b) for b in batches), *IMAGE_SHAPE), dtype=np.uint8)
    pixels = images.reshape(len(images), 32 * 32, 3)  # a view: fills `images`
    start = 0
    for batch in batches:
        planes = batch.reshape(-1, 3, 32 * 32)
        # Same result as batch.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1), about 5x faster:
        # one channel at a time, in blocks of images that stay in the CPU cache.
        for first in range(0, len(planes), _IMAGES_PER_BLOCK):
            block = planes[first : first + _IMAGES_PER_BLOCK]
            out = pixels[start + first : start + first + len(block)]
            for channel in range(3):
                out[:, :, channel] = block[:, channel, :]
        start += len(planes)
    return images


# --------------------------------------------------------------------------------------
# Safe extraction into the cache
# --------------------------------------------------------------------------------------


class _HashingReader:
    """Read-only file wrapper that hashes every byte read through it."""

    def __init__(self, file: BinaryIO) -> None:
        self._file = file
        self.digest = hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        chunk = self._file.read(size)
        self.digest.update(chunk)
        return chunk

    def drain(self) -> None:
        while self.read(_CHUNK_BYTES):
            pass


def _name_parts(name: str) -> list[str]:
    """The parts of a member's path, without empty and ``.`` parts (``\\`` counts as ``/``)."""
    return [part for part in name.replace("\\", "/").split("/") if part not in ("", ".")]


def _member_name(member: tarfile.TarInfo, archive: Path, advice: str) -> str:
    """Return the member's normalised name; refuse members that could escape the target."""
    name = member.name
    parts = _name_parts(name)
    why = None
    if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        why = "absolute path"
    elif ".." in parts:
        why = "'..' in the path would write outside the extraction folder"
    elif member.issym() or member.islnk():
        target = member.linkname
        if member.issym():
            target = posixpath.join(posixpath.dirname("/".join(parts)), target)
        normalized = posixpath.normpath(target)
        if target.startswith("/") or normalized == ".." or normalized.startswith("../"):
            why = f"link to {member.linkname!r} points outside the extraction folder"
    elif not (member.isreg() or member.isdir()):
        why = "devices, pipes and other special files are not allowed"
    if why is not None:
        raise CifarDataError(
            f"{archive}: refused archive member {name!r}: {why}. Nothing was kept; the "
            f"archive is damaged or malicious. {advice}"
        )
    return "/".join(parts)


@contextlib.contextmanager
def _open_tar_stream(reader: _HashingReader) -> Iterator[tarfile.TarFile]:
    """Open the archive as a tar stream (gzip-compressed or not), decompressing in one pass."""
    head = reader.read(2)
    # gzip.GzipFile (not tarfile's own stream) so that the gzip CRC is checked at the end.
    from_start = _Prepend(head, reader)
    if head == b"\x1f\x8b":
        with gzip.GzipFile(fileobj=from_start, mode="rb") as unzipped:
            with tarfile.open(fileobj=unzipped, mode="r|", bufsize=_CHUNK_BYTES) as tar:
                yield tar
            # Read to the end: verifies the gzip CRC and length.
            while unzipped.read(_CHUNK_BYTES):
                pass
    else:
        with tarfile.open(fileobj=from_start, mode="r|*", bufsize=_CHUNK_BYTES) as tar:
            yield tar


class _Prepend:
    """File-like object that returns `head` and then the rest of `file`."""

    def __init__(self, head: bytes, file: _HashingReader) -> None:
        self._head = head
        self._file = file

    def read(self, size: int = -1) -> bytes:
        head, self._head = self._head, b""
        if size is None or size < 0:
            return head + self._file.read()
        if len(head) >= size:
            self._head = head[size:]
            return head[:size]
        return head + self._file.read(size - len(head))


def _copy_hashing(source: BinaryIO, out: BinaryIO | None) -> str:
    """Read `source` to its end, writing it to `out` unless None; return its sha256 (hex)."""
    digest = hashlib.sha256()
    while chunk := source.read(_CHUNK_BYTES):
        digest.update(chunk)
        if out is not None:
            out.write(chunk)
    return digest.hexdigest()


def _record(digests: dict[str, str], name: str, digest: str) -> None:
    """Note a member's sha256; a member seen twice is never official."""
    digests[name] = _DUPLICATE_MEMBER if name in digests else digest


@contextlib.contextmanager
def _archive_errors(archive: Path, advice: str) -> Iterator[None]:
    """Turn what a truncated or corrupt archive raises into a CifarDataError naming it."""
    try:
        yield
    except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as exc:
        # gzip.BadGzipFile is an OSError; other OSErrors (disk full, ...) pass through.
        raise CifarDataError(
            f"{archive}: not a valid {ARCHIVE_NAME} ({type(exc).__name__}: {exc}); the "
            f"file is truncated or corrupt. {advice}"
        ) from exc


def _scan_archive(archive: Path, *, advice: str) -> ContentCheck:
    """Hash `archive` and each official file in it in one streaming pass; write nothing."""
    hashed = {f"{FOLDER_NAME}/{name}": name for name in OFFICIAL_MEMBER_SHA256}
    digests: dict[str, str] = {}
    with open(archive, "rb") as raw:
        reader = _HashingReader(raw)
        with _archive_errors(archive, advice):
            with _open_tar_stream(reader) as tar:
                for member in tar:
                    short = hashed.get("/".join(_name_parts(member.name)))
                    if short is not None and member.isreg():
                        source = tar.extractfile(member)
                        if source is not None:
                            _record(digests, short, _copy_hashing(source, None))
            reader.drain()
    return _content_check(digests, reader.digest.hexdigest())


def _extract_archive(archive: Path, destination: Path, *, advice: str) -> ContentCheck:
    """Extract the batch files of `archive` into ``destination / FOLDER_NAME``.

    Only the files the format needs are written, under names this function builds itself;
    every member is first checked (ours, then tarfile's ``data`` filter where available).
    Each file of the official release (readme.html too, which is not written) is hashed as
    it streams past, so the same single pass tells whether the content is the official one.

    Returns:
        The comparison with the official release; its ``archive_sha256`` is the archive's
        sha256, computed while reading it.
    """
    target = destination / FOLDER_NAME
    target.mkdir()
    wanted = {f"{FOLDER_NAME}/{name}": name for name in _BATCH_FILE_NAMES}
    hashed = {f"{FOLDER_NAME}/{name}": name for name in OFFICIAL_MEMBER_SHA256}
    written: set[str] = set()
    digests: dict[str, str] = {}
    data_filter = getattr(tarfile, "data_filter", None)  # Python >= 3.10.12 / 3.11.4
    with open(archive, "rb") as raw:
        reader = _HashingReader(raw)
        with _archive_errors(archive, advice):
            with _open_tar_stream(reader) as tar:
                for member in tar:
                    name = _member_name(member, archive, advice)
                    if data_filter is not None:
                        try:
                            data_filter(member, str(destination))
                        except tarfile.FilterError as exc:
                            raise CifarDataError(
                                f"{archive}: refused archive member {member.name!r} ({exc}). "
                                f"Nothing was kept. {advice}"
                            ) from exc
                    short = wanted.get(name)
                    if short is None:
                        # readme.html: hashed, not written. Folders, anything else: skipped.
                        other = hashed.get(name)
                        if other is not None and member.isreg():
                            source = tar.extractfile(member)
                            if source is not None:
                                _record(digests, other, _copy_hashing(source, None))
                        continue
                    if not member.isreg():
                        raise CifarDataError(
                            f"{archive}: member {member.name!r} is not a regular file. {advice}"
                        )
                    if short in written:
                        raise CifarDataError(
                            f"{archive}: member {member.name!r} appears twice. {advice}"
                        )
                    if member.size > _MAX_MEMBER_BYTES:
                        raise CifarDataError(
                            f"{archive}: member {member.name!r} is {member.size} bytes, far "
                            f"larger than a CIFAR-10 batch. {advice}"
                        )
                    source = tar.extractfile(member)
                    if source is None:  # pragma: no cover - regular files always have data
                        raise CifarDataError(f"{archive}: cannot read {member.name!r}. {advice}")
                    with open(target / short, "wb") as out:
                        _record(digests, short, _copy_hashing(source, out))
                    written.add(short)
            reader.drain()
    missing = [
        f"{FOLDER_NAME}/{n}" for n in (*TRAIN_BATCH_NAMES, TEST_BATCH_NAME) if n not in written
    ]
    if missing:
        raise CifarDataError(
            f"{archive}: the archive has no {', '.join(missing)}; it is incomplete or not the "
            f"CIFAR-10 python version. {advice}"
        )
    return _content_check(digests, reader.digest.hexdigest())


def _read_marker(folder: Path) -> dict[str, Any] | None:
    """The marker the loader wrote in `folder`, or None if there is none or it is damaged.

    A marker written before the content was recorded (no ``content`` field), or with a
    damaged one, is still valid: :func:`_marker_content` then returns None (unknown).
    """
    try:
        marker = json.loads((folder / _MARKER_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    field_types = {
        "format": int,
        "archive": str,
        "size": int,
        "mtime_ns": int,
        "checked_ns": int,
        "sha256": str,
    }
    if not isinstance(marker, dict) or any(
        not isinstance(marker.get(key), kind) for key, kind in field_types.items()
    ):
        return None
    if marker["format"] != _MARKER_FORMAT:
        return None
    return marker


def _marker_content(marker: Mapping[str, Any]) -> ContentCheck | None:
    """What the marker recorded about the archive's content; None if it recorded nothing."""
    content = marker.get("content")
    lists = [marker.get("differing"), marker.get("missing")]
    if content not in ("official archive", "official content", "not official") or not all(
        isinstance(names, list) and all(isinstance(name, str) for name in names) for names in lists
    ):
        return None
    differing, missing = (tuple(names) for names in lists)
    return ContentCheck(content, differing, missing, marker["sha256"])


def _write_marker(
    folder: Path,
    archive: Path,
    stat: os.stat_result,
    sha256: str,
    content: ContentCheck | None,
) -> None:
    """Record in `folder` that it holds the files of `archive` (as it was at `stat`).

    `content` (None: unknown, as in markers written before it was recorded) adds whether
    the archive holds the official content: ``content``, ``differing`` and ``missing``.
    """
    marker: dict[str, Any] = {
        "format": _MARKER_FORMAT,
        "archive": str(archive),
        "size": stat.st_size,
        "mtime_ns": stat.st_mtime_ns,
        "checked_ns": time.time_ns(),
        "sha256": sha256,
    }
    if content is not None:
        marker["content"] = content.content
        marker["differing"] = list(content.differing)
        marker["missing"] = list(content.missing)
    with files.atomic_path(folder / _MARKER_NAME) as temporary:
        temporary.write_text(json.dumps(marker, indent=1) + "\n", encoding="utf-8")


def _cache_content(folder: Path, marker: Mapping[str, Any]) -> ContentCheck:
    """How the archive that the cache `folder` was extracted from compares with the official one.

    Read from the marker when it recorded it. A marker written before the content was
    recorded gives its archive's sha256 only: unless that is the official one, the extracted
    files are hashed instead (readme.html, which the loader does not extract, may be absent).
    """
    recorded = _marker_content(marker)
    if recorded is not None:
        return recorded
    if marker["sha256"] == OFFICIAL_SHA256:
        return ContentCheck("official archive", (), (), marker["sha256"])
    digests = {
        name: _file_sha256(folder / name)
        for name in OFFICIAL_MEMBER_SHA256
        if (folder / name).is_file()
    }
    return _content_check(digests, marker["sha256"], may_lack=(_README_NAME,))


def _cache_matches(cache: Path, archive: Path) -> bool:
    """Whether `cache` holds the files of `archive` (same sha256 as the one extracted).

    Fast path, as git does for its index: same path, size and modification time, and that
    time was well before the marker was written (so a later rewrite, even of the same size,
    would have changed it). Otherwise the archive's sha256 is compared (about 0.3 s for
    163 MiB), and the marker is refreshed when it matches.
    """
    marker = _read_marker(cache)
    if marker is None:
        return False
    stat = archive.stat()
    if marker["size"] != stat.st_size:
        return False
    if (
        marker["archive"] == str(archive)
        and marker["mtime_ns"] == stat.st_mtime_ns
        and stat.st_mtime_ns < marker["checked_ns"] - _RACY_MTIME_NS
    ):
        return True
    if _file_sha256(archive) != marker["sha256"]:
        return False
    with contextlib.suppress(OSError):
        _write_marker(cache, archive, stat, marker["sha256"], _marker_content(marker))
    return True


def _install(new_folder: Path, cache: Path, scratch: Path) -> None:
    """Move `new_folder` to `cache`, moving any previous cache into `scratch` first."""
    if os.path.lexists(cache):
        os.rename(cache, scratch / "previous")
    try:
        os.rename(new_folder, cache)
    except OSError:
        # Another process installed its copy in between: keep it if it is the same archive.
        theirs, ours = _read_marker(cache), _read_marker(new_folder)
        if theirs is None or ours is None or theirs["sha256"] != ours["sha256"]:
            raise


def _load_batches(path: str | os.PathLike[str] | None, *, download: bool) -> _Batches:
    """Find (or download), extract if needed, read and validate the batch files."""
    try:
        source = find_cifar10(path)
    except FileNotFoundError as exc:
        if path is not None or os.environ.get(PATH_ENV_VAR):
            raise
        if not download:
            raise FileNotFoundError(
                f"{exc}\nNothing was downloaded because download=False; pass download=True "
                "to download the official archive."
            ) from None
        source = download_cifar10(
            default_data_dir(), url=OFFICIAL_URL, sha256=OFFICIAL_SHA256, progress=True
        )

    if source.is_dir():
        return _read_folder(
            source,
            name_of=lambda name: str(source / name),
            advice=f"Re-extract {ARCHIVE_NAME} into {source.parent}, or {_PATH_ADVICE}.",
        )

    archive = source.resolve()
    data_dir = default_data_dir()
    cache = data_dir / FOLDER_NAME
    if cache.is_dir() and _cache_matches(cache, archive):
        return _read_folder(
            cache,
            name_of=lambda name: str(cache / name),
            advice=f"Delete the cache folder {cache} and try again.",
        )

    _make_dir(data_dir)
    archive_advice = (
        f"Replace {archive} with a good copy (once it is deleted, load_cifar10() downloads "
        f"the official archive if nothing else is found), or {_PATH_ADVICE}."
    )
    scratch = Path(tempfile.mkdtemp(prefix=".cifar-10-extract-", dir=data_dir))
    try:
        stat = archive.stat()
        content = _extract_archive(archive, scratch, advice=archive_advice)
        extracted = scratch / FOLDER_NAME
        # Validate before installing, so the cache only ever holds files that loaded.
        batches = _read_folder(
            extracted,
            name_of=lambda name: f"{archive} (member {FOLDER_NAME}/{name})",
            advice=archive_advice,
        )
        sha256 = content.archive_sha256 or ""  # always set for an archive
        _write_marker(extracted, archive, stat, sha256, content)
        _install(extracted, cache, scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return batches


# --------------------------------------------------------------------------------------
# Public loaders
# --------------------------------------------------------------------------------------


def load_cifar10(
    path: str | os.PathLike[str] | None = None, *, download: bool = True
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Load CIFAR-10 as numpy arrays, in file order (data_batch_1 to 5, then test_batch).

    Args:
        path: ``cifar-10-python.tar.gz``, an extracted ``cifar-10-batches-py/`` folder or the
            folder holding either; ``None`` searches as :func:`find_cifar10` does. An archive
            is extracted once, safely, into ``default_data_dir() / "cifar-10-batches-py"``
            (with a note of which archive it came from and whether its files are the
            official ones); later loads of the same archive read the extracted files.
        download: When nothing is found (and neither `path` nor ``$CIFAR10_PATH`` is given),
            download the official archive into :func:`default_data_dir` (163 MiB).

    Returns:
        ``(x_train, y_train), (x_test, y_test)``: images uint8, shape (N, 32, 32, 3), 0-255,
        channels last (RGB); labels int64, shape (N,), 0-9 (see :data:`CLASS_NAMES`).
        N is 50,000 and 10,000 for the real dataset.

    Raises:
        FileNotFoundError: No data was found (and none downloaded); the message says where
            it looked and what to do.
        CifarDataError: The data is corrupt or not CIFAR-10; the message names the file.
        OSError: The download failed.
    """
    batches = _load_batches(path, download=download)
    x_train = _to_images(batches.train_data)
    y_train = np.concatenate(batches.train_labels)
    x_test = _to_images([batches.test_data])
    return (x_train, y_train), (x_test, batches.test_labels)


def load_batch_ids(
    path: str | os.PathLike[str] | None = None, *, download: bool = True
) -> np.ndarray:
    """Return which training batch file each training image came from.

    Args:
        path: As for :func:`load_cifar10`.
        download: As for :func:`load_cifar10`.

    Returns:
        uint8, shape (N,) (50,000 for the real dataset), values 1-5, aligned with
        ``x_train`` from :func:`load_cifar10`.
    """
    batches = _load_batches(path, download=download)
    sizes = [len(labels) for labels in batches.train_labels]
    return np.repeat(np.arange(1, len(sizes) + 1, dtype=np.uint8), sizes)


def split_train_val(
    x: np.ndarray, y: np.ndarray, *, val_size: int | float = 5000, seed: int = 0
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Split off a stratified, seeded validation set.

    Args:
        x: Images (or any per-example array), shape (N, ...).
        y: Integer labels, shape (N,) or (N, 1).
        val_size: Number of validation examples (int) or fraction of N (float in (0, 1)).
        seed: Seed of the shuffle; the same seed gives the same split.

    Returns:
        ``(x_train, y_train), (x_val, y_val)``, shuffled, with each class in the same
        proportion in both parts (as far as the counts allow).

    Raises:
        ValueError: Lengths differ, or `val_size` leaves a part without every class.
    """
    x, y = np.asarray(x), np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        strata = y[:, 0]
    elif y.ndim == 1:
        strata = y
    else:
        raise ValueError(f"y must have shape (N,) or (N, 1), got {y.shape}.")
    n = len(x)
    if len(y) != n:
        raise ValueError(f"x has {n} examples but y has {len(y)}; pass matching arrays.")
    if isinstance(val_size, bool) or not isinstance(
        val_size, (int, float, np.integer, np.floating)
    ):
        raise ValueError(f"val_size must be an int count or a float fraction, got {val_size!r}.")
    if isinstance(val_size, (float, np.floating)):
        if not 0.0 < val_size < 1.0:
            raise ValueError(f"val_size as a fraction must be in (0, 1), got {val_size}.")
        n_val = int(np.ceil(val_size * n))
    else:
        n_val = int(val_size)
    classes, counts = np.unique(strata, return_counts=True)
    if not len(classes) <= n_val <= n - len(classes):
        raise ValueError(
            f"val_size={val_size!r} gives {n_val} validation examples out of {n}; with "
            f"{len(classes)} classes it must give between {len(classes)} and "
            f"{n - len(classes)}, so that both parts hold every class."
        )
    if counts.min() < 2:
        raise ValueError(
            f"class {classes[counts.argmin()]} has only {counts.min()} example; a stratified "
            "split needs at least 2 per class."
        )
    from sklearn.model_selection import train_test_split  # imported here: slow to import

    x_train, x_val, y_train, y_val = train_test_split(
        x, y, test_size=n_val, stratify=strata, random_state=seed
    )
    return (x_train, y_train), (x_val, y_val)


# --- Input pipelines -------------------------------------------------------------------------

CHANNEL_MEAN: tuple[float, float, float] = (0.4914, 0.4822, 0.4465)
"""Per-channel mean of the official training images, scaled to [0, 1] (R, G, B)."""
CHANNEL_STD: tuple[float, float, float] = (0.2470, 0.2435, 0.2616)
"""Per-channel standard deviation of the official training images, scaled to [0, 1]."""


def normalize(images: Any) -> Any:
    """Scale images to [0, 1], then standardise each channel with the training statistics.

    Every model of the series takes images normalised this way; :func:`make_dataset` calls
    it inside the pipeline, and :mod:`cifar_utils.predict` calls it on photos.

    Args:
        images: Pixels 0-255 (uint8 or float), shape (..., 32, 32, 3): a NumPy array or a
            TensorFlow tensor.

    Returns:
        float32 images of the same shape, about zero mean and unit variance per channel;
        a NumPy array for a NumPy input, a tensor for a tensor.
    """
    if isinstance(images, (np.ndarray, list, tuple)) or np.isscalar(images):
        array = np.asarray(images)
        if array.ndim == 0 or array.shape[-1] != 3:
            raise ValueError(
                f"normalize expects RGB images with 3 channels last, got shape {array.shape}."
            )
        mean = np.asarray(CHANNEL_MEAN, dtype=np.float32)
        std = np.asarray(CHANNEL_STD, dtype=np.float32)
        return (array.astype(np.float32) / np.float32(255.0) - mean) / std
    import tensorflow as tf

    if images.shape[-1] != 3:
        raise ValueError(
            f"normalize expects RGB images with 3 channels last, got shape {images.shape}."
        )
    scaled = tf.cast(images, tf.float32) / 255.0
    return (scaled - tf.constant(CHANNEL_MEAN)) / tf.constant(CHANNEL_STD)


def _augment_batch(images: Any, seed: Any, pad: int, flip: Any = None) -> Any:
    """Random crop from a zero-padded image and horizontal flip, per example.

    ``keras.layers.RandomCrop`` crops every image of a batch at the same place, so the
    crop is done here with two ``tf.gather`` calls on per-example offsets; stateless
    random ops (seeded by the run seed and the batch number) make it reproducible and
    safe to run on parallel threads. ``flip`` (bool, one per image) says which images to
    mirror; ``None`` mirrors a random half.
    """
    import tensorflow as tf

    shape = tf.shape(images)
    batch, height, width = shape[0], shape[1], shape[2]
    padded = tf.pad(images, [[0, 0], [pad, pad], [pad, pad], [0, 0]])
    seeds = tf.random.experimental.stateless_split(seed, num=3)
    top = tf.random.stateless_uniform([batch], seeds[0], 0, 2 * pad + 1, dtype=tf.int32)
    left = tf.random.stateless_uniform([batch], seeds[1], 0, 2 * pad + 1, dtype=tf.int32)
    rows = top[:, None] + tf.range(height)[None, :]
    cols = left[:, None] + tf.range(width)[None, :]
    cropped = tf.gather(padded, rows, axis=1, batch_dims=1)
    cropped = tf.gather(cropped, cols, axis=2, batch_dims=1)
    if flip is None:
        flip = tf.random.stateless_uniform([batch], seeds[2]) < 0.5
    return tf.where(flip[:, None, None, None], tf.reverse(cropped, axis=[2]), cropped)


def _alternating_flip(index: Any, epoch: Any, seed: int) -> Any:
    """Which images to mirror in ``epoch``: a fixed pseudo-random half of the images
    (a hash of the image index and the seed) in even epochs, the other half in odd ones."""
    import tensorflow as tf

    mixed = (tf.cast(index, tf.int64) * 2654435761 + (seed % 65536) * 40503) % 4294967296
    first_half = (mixed // 65536) % 2 == 1
    return tf.math.logical_xor(first_half, epoch % 2 == 1)


def make_dataset(
    x: np.ndarray,
    y: np.ndarray,
    *,
    batch_size: int = 256,
    training: bool = False,
    augment: bool | None = None,
    one_hot: bool = False,
    seed: int = 0,
    pad: int = 4,
    flip: str = "random",
    epochs: int = 1,
    first_epoch: int = 0,
) -> Any:
    """Build the ``tf.data`` pipeline that feeds a model.

    Batches first, then transforms whole batches in the graph, on parallel threads, while
    the model trains on the previous batch (prefetch): casting, the optional augmentation
    (a random crop of the image padded by ``pad`` pixels, i.e. a shift of up to ``pad``
    pixels, and a random horizontal flip, chosen independently for every image) and
    :func:`normalize`.

    Args:
        x: uint8 images, shape (N, 32, 32, 3), 0-255.
        y: Integer labels, shape (N,) or (N, 1), 0-9.
        batch_size: Images per batch.
        training: Shuffle every epoch (seeded), drop the last partial batch, and augment
            unless ``augment`` says otherwise.
        augment: Force augmentation on or off; ``None`` follows ``training``.
        one_hot: Yield float32 one-hot labels, shape (batch, 10), as label smoothing in
            ``keras.losses.CategoricalCrossentropy`` needs; otherwise int32 labels.
        seed: Seed of the shuffling and the augmentation: the same seed gives the same
            batches in the same order. The augmentation's random numbers depend on the seed
            and the batch's step number (counted from the start of the dataset, so from
            the start of each epoch when ``epochs`` is 1); since training reshuffles the
            images every epoch, each image still gets new shifts and flips every epoch.
        pad: Largest shift of the random crop, in pixels.
        flip: ``"random"``: every image is mirrored with probability 1/2, afresh every
            epoch. ``"alternating"`` (airbench's derandomised flip): a fixed pseudo-random
            half of the images is mirrored in even epochs and the other half in odd ones, so
            over any two consecutive epochs the model sees every image both ways. It needs
            a dataset that spans the epochs (``epochs``).
        epochs: Training only: how many epochs the dataset holds, each a fresh shuffle;
            pass ``steps_per_epoch=len(x) // batch_size`` to ``model.fit`` with it.
            With the default 1, Keras iterates the dataset again in every epoch.
        first_epoch: Training only: the epoch the dataset starts at (the ``initial_epoch``
            of a resumed run), so that the alternating flips carry on where they stopped.

    Returns:
        A dataset of ``(images, labels)``: images float32 (batch, 32, 32, 3), normalised.
    """
    import tensorflow as tf

    x = np.asarray(x)
    y = np.asarray(y)
    if x.ndim != 4 or x.shape[-1] != 3:
        raise ValueError(f"x must be images of shape (N, H, W, 3), got shape {x.shape}.")
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1 or len(y) != len(x):
        raise ValueError(
            f"y must hold one label per image (shape ({len(x)},)), got shape {y.shape}."
        )
    if x.dtype != np.uint8:
        raise ValueError(
            f"x must be uint8 pixels 0-255 as load_cifar10 returns them, got dtype {x.dtype}; "
            "make_dataset normalises them itself, so do not pass normalised images."
        )
    if len(y) and (not np.issubdtype(y.dtype, np.integer) or y.min() < 0 or y.max() >= NUM_CLASSES):
        raise ValueError(f"y must hold integer labels 0-{NUM_CLASSES - 1}, got {y.dtype} values.")
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)):
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}.")
    if batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}.")
    if training and len(x) < batch_size:
        raise ValueError(
            f"only {len(x)} training images for batch_size={batch_size}: every batch would be "
            "dropped. Use a smaller batch_size or more data."
        )
    if isinstance(pad, bool) or not isinstance(pad, (int, np.integer)) or pad < 0:
        raise ValueError(f"pad must be a non-negative integer, got {pad!r}.")
    if flip not in ("random", "alternating"):
        raise ValueError(f'flip must be "random" or "alternating", got {flip!r}.')
    for name, value, lowest in (("epochs", epochs, 1), ("first_epoch", first_epoch, 0)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < lowest:
            raise ValueError(f"{name} must be an integer >= {lowest}, got {value!r}.")
    if (flip, epochs, first_epoch) != ("random", 1, 0) and not training:
        raise ValueError(
            "flip, epochs and first_epoch apply to training datasets (training=True); "
            "leave them at their defaults for evaluation."
        )
    if first_epoch >= epochs:
        raise ValueError(
            f"first_epoch={first_epoch} leaves no epoch to train of epochs={epochs}: "
            "the run has already finished."
        )
    if augment is None:
        augment = training

    indices = np.arange(len(x), dtype=np.int64)
    dataset = tf.data.Dataset.from_tensor_slices((x, y.astype(np.int32), indices))
    if training:
        dataset = dataset.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.batch(batch_size, drop_remainder=training)
    steps_per_epoch = len(x) // batch_size
    if epochs > 1:
        dataset = dataset.repeat(epochs - first_epoch)  # reshuffled at every repetition

    def prepare(step: Any, batch: tuple[Any, Any, Any]) -> tuple[Any, Any]:
        images, labels, index = batch
        images = tf.cast(images, tf.float32)
        if augment:
            flipped = None
            if flip == "alternating":
                flipped = _alternating_flip(index, step // steps_per_epoch, seed)
            images = _augment_batch(images, tf.stack([tf.cast(seed, tf.int64), step]), pad, flipped)
        if one_hot:
            labels = tf.one_hot(labels, NUM_CLASSES, dtype=tf.float32)
        return normalize(images), labels

    start = first_epoch * steps_per_epoch
    dataset = dataset.enumerate(start=start).map(prepare, num_parallel_calls=tf.data.AUTOTUNE)
    return dataset.prefetch(tf.data.AUTOTUNE)
