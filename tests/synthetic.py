"""Tiny synthetic CIFAR-10 files in the exact layout of the official python release.

The tests (and the notebook smoke runs) use these instead of the real 163 MiB archive::

    from synthetic import write_synthetic_archive

    archive = write_synthetic_archive(tmp_path / "cifar-10-python.tar.gz", n_per_batch=20)

Layout, as in ``cifar-10-python.tar.gz``: a ``cifar-10-batches-py/`` folder with
``data_batch_1`` to ``data_batch_5``, ``test_batch``, ``batches.meta`` and ``readme.html``;
each batch is a dict pickled as Python 2 did (protocol 2, byte strings, bytes keys) with
``b"data"`` (uint8, (n, 3072), R, G, B planes of 32x32), ``b"labels"`` (list of int),
``b"filenames"`` and ``b"batch_label"``.

The pixels are random but seeded, and carry a weak class signal: every image is its class's
mean colour plus strong noise, so a model learns above chance in a few steps while single
pixels say little. Labels cover all classes in every batch of at least 10 images.
"""

from __future__ import annotations

import gzip
import io
import pickle
import struct
import tarfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

FOLDER_NAME = "cifar-10-batches-py"
CLASS_NAMES = (
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
# Mean colour (R, G, B) of each class's images: far apart, but buried in noise per pixel.
CLASS_COLOURS = np.array(
    [
        [70, 110, 200],  # airplane: sky blue
        [200, 60, 60],  # automobile: red
        [120, 170, 80],  # bird: green
        [190, 150, 110],  # cat: beige
        [110, 140, 60],  # deer: olive
        [150, 110, 70],  # dog: brown
        [60, 160, 120],  # frog: teal
        [130, 90, 50],  # horse: dark brown
        [50, 80, 150],  # ship: navy
        [170, 170, 170],  # truck: grey
    ],
    dtype=np.float64,
)
NOISE_STD = 48.0
README_HTML = (
    b"<meta HTTP-EQUIV='REFRESH' content='0; url=https://www.cs.toronto.edu/~kriz/cifar.html'>\n"
)
# Fixed timestamps: the same arguments give byte-identical archives.
_MTIME = 1_262_304_000  # 2010-01-01


class _Python2StylePickler(pickle._Pickler):  # type: ignore[name-defined]
    """Protocol-2 pickler that writes bytes as Python 2 ``str`` (BINSTRING) and numpy's
    globals under their historical ``numpy.core`` names, like the official files.

    Python 3's own protocol-2 pickles spell bytes as ``_codecs.encode(...)``, a global the
    loader's restricted unpickler (rightly) refuses.
    """

    dispatch = pickle._Pickler.dispatch.copy()  # type: ignore[attr-defined]

    def save_bytes(self, obj: bytes) -> None:
        if len(obj) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(obj)]) + obj)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(obj)) + obj)
        self.memoize(obj)

    dispatch[bytes] = save_bytes

    def save_global(self, obj: Any, name: str | None = None) -> None:
        name = name or obj.__qualname__
        module = pickle.whichmodule(obj, name)
        if module.startswith("numpy._core"):
            module = "numpy.core" + module[len("numpy._core") :]
        self.write(pickle.GLOBAL + f"{module}\n{name}\n".encode("ascii"))
        self.memoize(obj)


def dumps_py2(obj: Any) -> bytes:
    """Pickle `obj` the way the official (Python 2) CIFAR-10 files were pickled."""
    buffer = io.BytesIO()
    _Python2StylePickler(buffer, protocol=2).dump(obj)
    return buffer.getvalue()


def make_images(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Images for `labels`: uint8 (n, 32, 32, 3), class mean colour plus Gaussian noise."""
    noise = rng.normal(0.0, NOISE_STD, size=(len(labels), 32, 32, 3))
    return np.clip(CLASS_COLOURS[labels][:, None, None, :] + noise, 0, 255).astype(np.uint8)


def make_batch(images: np.ndarray, labels: np.ndarray, batch_label: str) -> dict[bytes, Any]:
    """The official batch dict for uint8 images (n, 32, 32, 3) and int labels (n,)."""
    data = np.ascontiguousarray(images.transpose(0, 3, 1, 2).reshape(len(images), 3072))
    filenames = [f"{CLASS_NAMES[y]}_s_{i:06d}.png".encode() for i, y in enumerate(labels)]
    return {
        b"batch_label": batch_label.encode(),
        b"labels": [int(y) for y in labels],
        b"data": data,
        b"filenames": filenames,
    }


def make_files(
    *, n_per_batch: int = 100, n_test: int = 100, seed: int = 0
) -> dict[str, dict[bytes, Any]]:
    """Unpickled contents of every batch file, keyed by file name (in official order)."""
    rng = np.random.default_rng(seed)
    files: dict[str, dict[bytes, Any]] = {
        "batches.meta": {
            b"num_cases_per_batch": n_per_batch,
            b"label_names": [name.encode() for name in CLASS_NAMES],
            b"num_vis": 3072,
        }
    }
    for index in range(1, 7):
        n = n_per_batch if index <= 5 else n_test
        labels = rng.permutation(np.arange(n) % len(CLASS_NAMES))
        images = make_images(labels, rng)
        if index <= 5:
            name, batch_label = f"data_batch_{index}", f"training batch {index} of 5"
        else:
            name, batch_label = "test_batch", "testing batch 1 of 1"
        files[name] = make_batch(images, labels, batch_label)
    return files


def expected_arrays(
    files: Mapping[str, Mapping[bytes, Any]],
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """What a correct loader returns for `files`: (x_train, y_train), (x_test, y_test)."""

    def images(batch: Mapping[bytes, Any]) -> np.ndarray:
        return batch[b"data"].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)

    train = [files[f"data_batch_{i}"] for i in range(1, 6)]
    x_train = np.concatenate([images(b) for b in train])
    y_train = np.concatenate([np.asarray(b[b"labels"], dtype=np.int64) for b in train])
    test = files["test_batch"]
    return (x_train, y_train), (images(test), np.asarray(test[b"labels"], dtype=np.int64))


def encode_files(files: Mapping[str, Any]) -> dict[str, bytes]:
    """Pickle every entry that is not bytes already; add readme.html if missing."""
    encoded = {
        name: content if isinstance(content, bytes) else dumps_py2(content)
        for name, content in files.items()
    }
    encoded.setdefault("readme.html", README_HTML)
    return encoded


def file_member(name: str, content: bytes) -> tuple[tarfile.TarInfo, bytes]:
    """A regular-file tar member, with the official archive's owner and mode."""
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(content), 0o644, _MTIME
    info.uname = info.gname = "kriz"
    return info, content


def write_tar(
    path: Path,
    members: Iterable[tarfile.TarInfo | tuple[tarfile.TarInfo, bytes]],
    *,
    compress: bool = True,
) -> Path:
    """Write a tar (gzip-compressed unless `compress` is False) from members, in order.

    A bare TarInfo is written without data (folders, links, devices).
    """
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for member in members:
            if isinstance(member, tarfile.TarInfo):
                tar.addfile(member)
            else:
                info, content = member
                tar.addfile(info, io.BytesIO(content))
    payload = raw.getvalue()
    if compress:
        compressed = io.BytesIO()
        with gzip.GzipFile(fileobj=compressed, mode="wb", mtime=0) as gz:
            gz.write(payload)
        payload = compressed.getvalue()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(payload)
    return path


def archive_members(
    files: Mapping[str, bytes],
) -> list[tarfile.TarInfo | tuple[tarfile.TarInfo, bytes]]:
    """The folder entry, then every file under ``cifar-10-batches-py/``."""
    folder = tarfile.TarInfo(FOLDER_NAME)
    folder.type, folder.mode, folder.mtime = tarfile.DIRTYPE, 0o755, _MTIME
    return [folder, *(file_member(f"{FOLDER_NAME}/{n}", c) for n, c in files.items())]


def write_archive(path: Path, files: Mapping[str, Any], *, compress: bool = True) -> Path:
    """Write `files` (name -> dict to pickle, or raw bytes) as an official-layout archive."""
    return write_tar(path, archive_members(encode_files(files)), compress=compress)


def write_folder(directory: Path, files: Mapping[str, Any]) -> Path:
    """Write `files` into ``directory / "cifar-10-batches-py"``; return that folder."""
    folder = directory / FOLDER_NAME
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in encode_files(files).items():
        (folder / name).write_bytes(content)
    return folder


def write_synthetic_archive(
    path: Path, *, n_per_batch: int = 100, n_test: int = 100, seed: int = 0
) -> Path:
    """Write a synthetic ``cifar-10-python.tar.gz`` to `path` (a file path); return `path`.

    Args:
        path: The archive to write; its folder is created if needed.
        n_per_batch: Images in each of the 5 training batches (the real files have 10,000).
        n_test: Images in the test batch.
        seed: Seed of pixels and labels; the same arguments give identical bytes.
    """
    files = make_files(n_per_batch=n_per_batch, n_test=n_test, seed=seed)
    return write_archive(Path(path), files)


def write_synthetic_folder(
    directory: Path, *, n_per_batch: int = 100, n_test: int = 100, seed: int = 0
) -> Path:
    """Write an extracted synthetic dataset; return ``directory / "cifar-10-batches-py"``."""
    files = make_files(n_per_batch=n_per_batch, n_test=n_test, seed=seed)
    return write_folder(Path(directory), files)


if __name__ == "__main__":
    # `python tests/synthetic.py OUT.tar.gz`: the archive `make test-notebooks` gives the
    # notebooks when $CIFAR10_PATH has no real one (added by the series runner task).
    import argparse

    parser = argparse.ArgumentParser(description="Write a synthetic cifar-10-python.tar.gz.")
    parser.add_argument("archive", type=Path, help="the .tar.gz file to write")
    parser.add_argument("--n-per-batch", type=int, default=100, help="images per train batch")
    parser.add_argument("--n-test", type=int, default=100, help="images in the test batch")
    parser.add_argument("--seed", type=int, default=0, help="seed of pixels and labels")
    args = parser.parse_args()
    written = write_synthetic_archive(
        args.archive, n_per_batch=args.n_per_batch, n_test=args.n_test, seed=args.seed
    )
    print(f"wrote {written} ({5 * args.n_per_batch} training, {args.n_test} test images)")
