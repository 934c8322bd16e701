"""The trained models shipped with the package, so that predictions need no training.

Notebook 03 saves its ResNet as ``resnet.keras`` and notebook 02 its baseline CNN as
``baseline_cnn.keras`` in :func:`cifar_utils.training.default_model_dir`. Copies of both,
from a full training run, ship inside the package (in :data:`PRETRAINED_DIR`) together
with a small manifest (``manifest.json``) that records, for each model, its file's sha256
and size, what it was trained on and by which notebook, commit, date, machine and
precision, and its plain test accuracy (no test-time augmentation) on the 10,000 CIFAR-10
test images. :func:`load_model` prefers your own trained model and falls back on the
shipped one::

    from cifar_utils import pretrained

    model, source = pretrained.load_model("resnet")
    print(source)  # which model it is, in one line

The shipped files are float32 models even when the training ran in ``mixed_bfloat16``:
they run at full speed, and give the same answers, on CPUs without bfloat16 arithmetic.

Command line
------------
::

    python -m cifar_utils.pretrained show     # the manifest as a table, files checked
    python -m cifar_utils.pretrained update --model-dir /path/to/run/models

``update`` is the maintainer's step after a full training run (see
``cifar_utils/pretrained_models/README.md``): for each model found in ``--model-dir``
(``resnet.keras``, ``baseline_cnn.keras``), :func:`save_pretrained` writes a float32 copy
into the package and records it in the manifest, with its accuracy measured on the real
test set (``--data-path``, else found or downloaded as :func:`cifar_utils.data.load_cifar10`
does). Exit status: 0 on success, 1 when something needed is missing or damaged (one
``error:`` line on stderr), 2 for usage errors.

Importing this module imports neither TensorFlow nor Keras and changes no global state.
"""

from __future__ import annotations

import argparse
import collections
import datetime
import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from cifar_utils import files, training

if TYPE_CHECKING:
    import keras

__all__ = [
    "MANIFEST_NAME",
    "MODEL_NOTEBOOKS",
    "PRETRAINED_DIR",
    "load_model",
    "main",
    "read_manifest",
    "save_pretrained",
]

PRETRAINED_DIR: Path = Path(__file__).resolve().parent / "pretrained_models"
"""The package folder holding the shipped ``.keras`` files and their manifest."""

MANIFEST_NAME = "manifest.json"
"""File name of the manifest in :data:`PRETRAINED_DIR`."""

MODEL_NOTEBOOKS: dict[str, str] = {"resnet": "03_resnet", "baseline_cnn": "02_baseline_cnn"}
"""The shipped models (``<name>.keras``) and the notebook that trains and saves each."""

TRAINED_ON = "official CIFAR-10 (45,000 training images; 5,000 held out for validation)"
"""What notebooks 02 and 03 train on (the default of ``update --trained-on``)."""

MANIFEST_FORMAT = 1
"""Version of the manifest's layout; :func:`read_manifest` refuses other versions."""

#: Fields of a manifest entry and their types.
ENTRY_FIELDS: dict[str, type | tuple[type, ...]] = {
    "file": str,
    "sha256": str,
    "bytes": int,
    "trained_on": str,
    "test_accuracy": (int, float),
    "test_images": int,
    "notebook": str,
    "commit": str,
    "date": str,
    "machine": str,
    "precision": str,
}

#: Exit statuses of :func:`main`.
EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2

_PROG = "python -m cifar_utils.pretrained"
_MAINTAINER_ADVICE = (
    "reinstall the package (pip install --force-reinstall); maintainers delete the manifest "
    f"and ship the models again with `{_PROG} update`"
)
_PREDICT_BATCH_SIZE = 500


def _sentence(text: str) -> str:
    """``text`` with its first letter in upper case (``str.capitalize`` lowers the rest)."""
    return text[:1].upper() + text[1:]


def _check_name(name: str) -> str:
    """Return the notebook that trains ``name``; ValueError for an unknown name."""
    if name not in MODEL_NOTEBOOKS:
        raise ValueError(
            f"unknown model name {name!r}: the shipped models are "
            f"{', '.join(repr(known) for known in MODEL_NOTEBOOKS)}."
        )
    return MODEL_NOTEBOOKS[name]


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for chunk in iter(lambda: stream.read(2**20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _shown(path: Path) -> str:
    """``path`` relative to the working folder when it lies inside it, else relative to the
    project when it lies inside that (``models/resnet.keras`` seen from notebooks/: no
    machine's folders in a notebook's output), else as given."""
    resolved = path.resolve()
    for folder in (Path.cwd(), files.project_root()):
        if folder is not None and resolved.is_relative_to(folder.resolve()):
            return str(resolved.relative_to(folder.resolve()))
    return str(path)


def _check_entry(name: str, entry: Any, manifest_path: Path) -> dict[str, Any]:
    """Validate one manifest entry; ValueError naming the first problem."""
    damaged = f"{manifest_path} is damaged: the entry for {name!r}"
    if not isinstance(entry, dict):
        raise ValueError(f"{damaged} is not an object. {_sentence(_MAINTAINER_ADVICE)}.")
    for field, kind in ENTRY_FIELDS.items():
        value = entry.get(field)
        if not isinstance(value, kind) or isinstance(value, bool):
            raise ValueError(
                f"{damaged} has no valid {field!r} (got {value!r}). "
                f"{_sentence(_MAINTAINER_ADVICE)}."
            )
    if Path(entry["file"]).name != entry["file"] or entry["file"] in {"", ".", ".."}:
        raise ValueError(
            f"{damaged} names the file {entry['file']!r}, which is not a plain file name in "
            f"the manifest's folder. {_sentence(_MAINTAINER_ADVICE)}."
        )
    if not 0.0 <= entry["test_accuracy"] <= 1.0 or entry["test_images"] < 1:
        raise ValueError(
            f"{damaged} has test_accuracy {entry['test_accuracy']!r} on "
            f"{entry['test_images']!r} images (expected 0-1 on at least one image). "
            f"{_sentence(_MAINTAINER_ADVICE)}."
        )
    return dict(entry)


def read_manifest(directory: Path | None = None) -> dict[str, dict]:
    """Read the manifest of the shipped models.

    Args:
        directory: The folder holding ``manifest.json`` and the ``.keras`` files;
            ``None`` for :data:`PRETRAINED_DIR`.

    Returns:
        One entry per model name (``"resnet"``, ...), each a dict with ``file`` (name of
        the ``.keras`` file in ``directory``), ``sha256`` (hex), ``bytes`` (int),
        ``trained_on``, ``test_accuracy`` (float, 0-1, plain prediction, no TTA),
        ``test_images`` (int), ``notebook``, ``commit``, ``date`` (ISO), ``machine`` (CPU
        name) and ``precision`` (the dtype policy it was trained in).

    Raises:
        FileNotFoundError: There is no manifest (no shipped models in this installation).
        ValueError: The manifest is not valid JSON or not in the expected layout; the
            message names the problem and says what to do.
    """
    directory = PRETRAINED_DIR if directory is None else Path(directory)
    path = directory / MANIFEST_NAME
    if not path.is_file():
        raise FileNotFoundError(
            f"no manifest of shipped models at {path}: this installation ships no trained "
            f"models. Reinstall the package, or train your own with the notebooks "
            f"({', '.join(MODEL_NOTEBOOKS.values())})."
        )
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(
            f"{path} is damaged (not valid JSON: {error}). {_sentence(_MAINTAINER_ADVICE)}."
        ) from None
    if not isinstance(document, dict) or document.get("format") != MANIFEST_FORMAT:
        found = document.get("format") if isinstance(document, dict) else type(document).__name__
        raise ValueError(
            f"{path} is not a manifest of format {MANIFEST_FORMAT} (found {found!r}): it was "
            "written by another version of cifar_utils, or damaged. "
            f"{_sentence(_MAINTAINER_ADVICE)}."
        )
    entries = document.get("models")
    if not isinstance(entries, dict):
        raise ValueError(
            f"{path} is damaged: it has no 'models' object. {_sentence(_MAINTAINER_ADVICE)}."
        )
    return {str(name): _check_entry(name, entry, path) for name, entry in entries.items()}


def _describe_shipped(entry: Mapping[str, Any]) -> str:
    accuracy = entry["test_accuracy"]
    return (
        f"{entry['file']}, trained by {entry['notebook']} on {entry['date']} "
        f"({accuracy:.1%} accuracy on {entry['test_images']:,} CIFAR-10 test images)"
    )


MODEL_SOURCES = ("auto", "own", "shipped")
"""What :func:`load_model` may load: your own model if present, only yours, only the shipped."""


def load_model(
    name: str,
    *,
    model_dir: str | os.PathLike[str] | None = None,
    directory: Path | None = None,
    source: str = "auto",
) -> tuple[keras.Model, str]:
    """Load your own trained model if there is one, else the one shipped with the package.

    Your own is ``<model_dir>/<name>.keras``, as notebook 03 (``resnet``) or 02
    (``baseline_cnn``) saves it. The shipped file is checked against the sha256 in the
    manifest before it is loaded, so a damaged or replaced file is never used. Both are
    loaded without the training configuration (``compile=False``), for predictions.

    Args:
        name: ``"resnet"`` or ``"baseline_cnn"`` (the keys of :data:`MODEL_NOTEBOOKS`).
        model_dir: Folder of your own trained models; ``None`` for
            :func:`cifar_utils.training.default_model_dir`.
        directory: Folder of the shipped models; ``None`` for :data:`PRETRAINED_DIR`.
        source: ``"auto"`` (your own if it exists, else the shipped one), ``"own"`` (yours
            only: FileNotFoundError if it does not exist) or ``"shipped"`` (the shipped
            one, even if you trained your own: e.g. a quick run whose own model is a
            short demonstration).

    Returns:
        ``(model, source)``: the model (takes normalised float32 images, shape
        (N, 32, 32, 3), see :func:`cifar_utils.data.normalize`; returns (N, 10) softmax
        probabilities), and one line saying which model it is, for example
        ``"your own model: models/resnet.keras (trained by notebook 03_resnet)"``.

    Raises:
        ValueError: ``name`` is unknown (the message lists the names); your own file is
            not a usable model; or the shipped file does not match the manifest or cannot
            be loaded (the message says to reinstall or to train your own).
        FileNotFoundError: Neither your own nor a shipped model exists; the message names
            the notebook to run.
    """
    notebook = _check_name(name)
    if source not in MODEL_SOURCES:
        raise ValueError(f"source must be one of {MODEL_SOURCES}, got {source!r}.")
    own = Path(training.default_model_dir() if model_dir is None else model_dir) / f"{name}.keras"
    if source == "own" and not own.exists():
        raise FileNotFoundError(
            f"no trained model at {own}: run notebook {notebook}.ipynb first (or `make run` "
            'in the project folder), or use source="auto" to fall back on the shipped model.'
        )
    if own.exists() and source != "shipped":
        from cifar_utils import models

        try:
            model = models.load_model(own, made_by=notebook)
        except ValueError as error:
            raise ValueError(
                f"{error} (Or delete {own} to use the model shipped with the package.)"
            ) from None
        return model, f"your own model: {_shown(own)} (trained by notebook {notebook})"

    shipped_dir = PRETRAINED_DIR if directory is None else Path(directory)
    train_advice = (
        f"run notebook {notebook}.ipynb (or `make run` in the project folder) to train your "
        f"own, which is saved as {own}"
    )
    try:
        manifest = read_manifest(shipped_dir)
    except FileNotFoundError:
        raise FileNotFoundError(
            f"no trained {name} model: {own} does not exist and this installation ships no "
            f"trained models (no {MANIFEST_NAME} in {shipped_dir}). {_sentence(train_advice)}; "
            "or reinstall the package."
        ) from None
    entry = manifest.get(name)
    if entry is None:
        raise FileNotFoundError(
            f"no trained {name} model: {own} does not exist and the manifest of the shipped "
            f"models ({shipped_dir / MANIFEST_NAME}) lists none (only "
            f"{', '.join(sorted(manifest)) or 'none'}). {_sentence(train_advice)}."
        )
    path = shipped_dir / entry["file"]
    if not path.is_file():
        raise FileNotFoundError(
            f"no trained {name} model: {own} does not exist and the shipped {path}, listed in "
            f"the manifest, is missing. Reinstall the package, or {train_advice}."
        )
    size = path.stat().st_size
    digest = _file_sha256(path) if size == entry["bytes"] else None
    if digest != entry["sha256"]:
        found = f"sha256 {digest[:12]}..." if digest else f"{size:,} bytes"
        raise ValueError(
            f"refused to load the shipped model {path}: it was changed or damaged ({found}, "
            f"the manifest says sha256 {entry['sha256'][:12]}..., {entry['bytes']:,} bytes). "
            f"Reinstall the package (pip install --force-reinstall), or {train_advice}."
        )
    model = _load_keras_file(path, advice=f"Reinstall the package, or {train_advice}.")
    line = f"the shipped model: {_describe_shipped(entry)}; train your own with notebook {notebook}"
    return model, line


def _load_keras_file(path: Path, *, advice: str) -> keras.Model:
    """Load a ``.keras`` file with ``compile=False``; ValueError (with ``advice``) if not."""
    import keras

    # Registers the project's own layers and schedule, which saved models refer to.
    from cifar_utils import callbacks, models  # noqa: F401

    try:
        return keras.models.load_model(path, compile=False)
    except Exception as error:  # Keras raises many types for a file it cannot load
        message = " ".join(str(error).split())[:300]
        raise ValueError(
            f"cannot load the Keras model {path} with Keras {keras.__version__} "
            f"({type(error).__name__}: {message}). {advice}"
        ) from None


# Saving (the maintainer's step) -------------------------------------------------------

_REDUCED_DTYPES = frozenset({"bfloat16", "float16", "mixed_bfloat16", "mixed_float16"})


def _float32_config(config: Any) -> Any:
    """A copy of a serialized Keras config with every dtype policy replaced by float32."""
    if isinstance(config, list):
        return [_float32_config(item) for item in config]
    if not isinstance(config, dict):
        return config
    if config.get("class_name") in {"DTypePolicy", "FloatDTypePolicy"}:
        inner = config.get("config")
        if isinstance(inner, dict) and inner.get("name") in _REDUCED_DTYPES:
            return {**config, "config": {**inner, "name": "float32"}}
        return config
    converted = {key: _float32_config(value) for key, value in config.items()}
    dtype = converted.get("dtype")
    if isinstance(dtype, str) and dtype in _REDUCED_DTYPES:  # a policy or dtype given by name
        converted["dtype"] = "float32"
    return converted


def _as_float32(model: keras.Model) -> keras.Model:
    """Rebuild ``model`` with every layer in float32 and copy its weights.

    ``keras.models.clone_model`` is not enough in Keras 3: it rebuilds each layer from its
    config, which names the layer's own dtype policy (``mixed_bfloat16``), whatever the
    global policy. So the serialized config is rewritten instead (nested models and custom
    layers such as ``ScaledBias`` included), and rebuilt under a float32 global policy
    (the model's own and its inputs' policy come from the global one).
    """
    import keras

    from cifar_utils import callbacks, models  # noqa: F401  (registers the custom objects)

    config = _float32_config(keras.saving.serialize_keras_object(model))
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("float32")
    try:
        clone = keras.saving.deserialize_keras_object(config)
    finally:
        keras.config.set_dtype_policy(previous)
    clone.set_weights([np.asarray(weight, dtype=np.float32) for weight in model.get_weights()])
    return clone


def precision_of(model: keras.Model) -> str:
    """Return the dtype policy a model was built (and trained) in.

    Args:
        model: A Keras model.

    Returns:
        The policy name most of its layers that hold weights use (``"float32"``,
        ``"mixed_bfloat16"``, ...); the float32 softmax that ends every model of the
        series, which has no weights, does not count.
    """
    names = [
        layer.dtype_policy.name
        for layer in _all_layers(model)
        if layer.weights and not hasattr(layer, "layers")
    ]
    if not names:
        return model.dtype_policy.name
    return collections.Counter(names).most_common(1)[0][0]


def _all_layers(model: Any) -> Iterator[Any]:
    for layer in model.layers:
        yield layer
        if hasattr(layer, "layers"):  # a nested model
            yield from _all_layers(layer)


def _check_test_set(x_test: Any, y_test: Any) -> tuple[np.ndarray, np.ndarray]:
    images, labels = np.asarray(x_test), np.asarray(y_test)
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[1:] != (32, 32, 3):
        raise ValueError(
            "save_pretrained: x_test must be raw uint8 images of shape (N, 32, 32, 3), got "
            f"{images.dtype} {images.shape}; pass x_test from data.load_cifar10 unchanged."
        )
    if labels.ndim == 2 and labels.shape[1] == 1:
        labels = labels[:, 0]
    if labels.ndim != 1 or len(labels) != len(images) or len(images) == 0:
        raise ValueError(
            f"save_pretrained: y_test must hold one integer label per image ({len(images)}), "
            f"got shape {np.asarray(y_test).shape}."
        )
    return images, labels


def compute_accuracy(model: Any, x_test: np.ndarray, y_test: np.ndarray) -> float:
    """Return a model's plain accuracy (no test-time augmentation) on raw test images.

    Args:
        model: A Keras model taking normalised images (see
            :func:`cifar_utils.data.normalize`) and returning (N, 10) scores.
        x_test: uint8, shape (N, 32, 32, 3), 0-255.
        y_test: int labels 0-9, shape (N,) or (N, 1).

    Returns:
        The fraction of images whose highest score is their label, 0-1.
    """
    from cifar_utils import data

    images, labels = _check_test_set(x_test, y_test)
    scores = np.asarray(
        model.predict(data.normalize(images), batch_size=_PREDICT_BATCH_SIZE, verbose=0)
    )
    if scores.shape != (len(images), data.NUM_CLASSES):
        raise ValueError(
            f"the model returned scores of shape {scores.shape} for {len(images)} images, "
            f"expected {(len(images), data.NUM_CLASSES)}: it is not a CIFAR-10 classifier."
        )
    return float(np.mean(np.argmax(scores, axis=1) == labels))


def _write_manifest(directory: Path, manifest: Mapping[str, Mapping[str, Any]]) -> None:
    document = {
        "format": MANIFEST_FORMAT,
        "models": {name: dict(manifest[name]) for name in sorted(manifest)},
    }
    with files.atomic_path(directory / MANIFEST_NAME) as temporary:
        temporary.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")


def save_pretrained(
    model_path: str | os.PathLike[str],
    name: str,
    *,
    x_test: np.ndarray,
    y_test: np.ndarray,
    notebook: str,
    commit: str,
    date: str,
    machine: str,
    precision: str,
    trained_on: str,
    directory: Path | None = None,
) -> dict:
    """Ship a trained model: write a float32 copy and record it in the manifest.

    The model is rebuilt in float32 (it may have been trained under ``mixed_bfloat16``),
    saved as ``<directory>/<name>.keras``, loaded back, and its plain test accuracy
    measured on ``x_test, y_test``; then the manifest entry of ``name`` is replaced. Both
    files are written atomically (:func:`cifar_utils.files.atomic_path`); the other
    entries of the manifest are kept.

    Args:
        model_path: The trained ``.keras`` file, for example ``models/resnet.keras``.
        name: ``"resnet"`` or ``"baseline_cnn"``.
        x_test: The test images, uint8, shape (N, 32, 32, 3), 0-255 (10,000 for CIFAR-10).
        y_test: Their labels, int 0-9, shape (N,) or (N, 1).
        notebook: The notebook that trained it, e.g. ``"03_resnet"``.
        commit: The git commit of the training run (short hash).
        date: The date of the training run, ISO ``YYYY-MM-DD``.
        machine: The CPU (or GPU) it was trained on.
        precision: The dtype policy it was trained in, e.g. ``"mixed_bfloat16"``.
        trained_on: What it was trained on, e.g. :data:`TRAINED_ON`.
        directory: Where to write; ``None`` for :data:`PRETRAINED_DIR`.

    Returns:
        The new manifest entry (see :func:`read_manifest`).

    Raises:
        ValueError: ``name`` is unknown, the test set is not uint8 images with one label
            each, the model is not a CIFAR-10 classifier, or the existing manifest is
            damaged.
        FileNotFoundError: ``model_path`` does not exist.
    """
    _check_name(name)
    images, labels = _check_test_set(x_test, y_test)
    for field, value in {
        "notebook": notebook,
        "commit": commit,
        "date": date,
        "machine": machine,
        "precision": precision,
        "trained_on": trained_on,
    }.items():
        if not isinstance(value, str) or not value.strip():
            raise ValueError(f"save_pretrained: {field} must be a non-empty string, got {value!r}.")
    directory = PRETRAINED_DIR if directory is None else Path(directory)
    try:
        manifest = read_manifest(directory)
    except FileNotFoundError:
        manifest = {}

    from cifar_utils import models

    trained = models.load_model(model_path, made_by=notebook)
    shipped = _as_float32(trained)
    target = directory / f"{name}.keras"
    with files.atomic_path(target) as temporary:
        shipped.save(temporary)
        # Measure the file that ships, as it loads back, rather than the model in memory.
        reloaded = _load_keras_file(temporary, advice="Check the Keras installation.")
        accuracy = compute_accuracy(reloaded, images, labels)
        digest = _file_sha256(temporary)
        size = temporary.stat().st_size
    entry = {
        "file": target.name,
        "sha256": digest,
        "bytes": size,
        "trained_on": trained_on,
        "test_accuracy": accuracy,
        "test_images": len(images),
        "notebook": notebook,
        "commit": commit,
        "date": date,
        "machine": machine,
        "precision": precision,
    }
    _write_manifest(directory, {**manifest, name: entry})
    return entry


# Command line --------------------------------------------------------------------------


def git_commit() -> str:
    """Return the short hash of the project's current git commit, or ``"unknown"``.

    A ``-dirty`` suffix marks uncommitted changes to tracked files.
    """
    root = Path(__file__).resolve().parent.parent

    def git(*args: str) -> str:
        run = subprocess.run(
            ["git", *args], cwd=root, capture_output=True, text=True, check=True, timeout=30
        )
        return run.stdout.strip()

    try:
        commit = git("rev-parse", "--short", "HEAD")
        status = git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    if not commit:
        return "unknown"
    return f"{commit}-dirty" if status else commit


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=_PROG,
        description="Show, or (as the maintainer) update, the trained models shipped with "
        "cifar_utils.",
        epilog="exit status: 0 on success; 1 when something needed is missing or damaged; "
        "2 for usage errors.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    show = commands.add_parser(
        "show", help="print the manifest as a table and check the files against it"
    )
    update = commands.add_parser(
        "update",
        help="ship the models of a training run: float32 copies, their test accuracy, the manifest",
        description="For each model found in --model-dir, write a float32 copy into the "
        "package and record it in the manifest, with its accuracy on the real test set.",
    )
    for command in (show, update):
        command.add_argument(
            "--pretrained-dir",
            type=Path,
            default=None,
            metavar="DIR",
            help=f"folder of the shipped models (default: {_shown(PRETRAINED_DIR)})",
        )
    update.add_argument(
        "--models",
        nargs="+",
        choices=list(MODEL_NOTEBOOKS),
        default=None,
        metavar="NAME",
        help=f"models to ship, among {', '.join(MODEL_NOTEBOOKS)} (default: every one found "
        "in --model-dir)",
    )
    update.add_argument(
        "--model-dir",
        type=Path,
        default=None,
        metavar="DIR",
        help="folder of the trained models (default: $CIFAR10_MODEL_DIR, else models/)",
    )
    update.add_argument(
        "--data-path",
        type=Path,
        default=None,
        metavar="PATH",
        help="CIFAR-10 archive or folder for the test set (default: $CIFAR10_PATH, the cache, "
        "else download)",
    )
    update.add_argument("--commit", help="commit of the training run (default: git HEAD)")
    update.add_argument("--date", help="date of the training run (default: today)")
    update.add_argument(
        "--machine", help="the CPU the models trained on (default: this CPU's name)"
    )
    update.add_argument(
        "--trained-on",
        default=TRAINED_ON,
        metavar="TEXT",
        help="what the models were trained on (default: %(default)s)",
    )
    return parser


def _fail(message: str) -> int:
    print(f"{_PROG}: error: {message}", file=sys.stderr)
    return EXIT_FAILED


def _file_status(directory: Path, entry: Mapping[str, Any]) -> str:
    path = directory / entry["file"]
    if not path.is_file():
        return "MISSING"
    if path.stat().st_size != entry["bytes"] or _file_sha256(path) != entry["sha256"]:
        return "CHANGED"
    return "ok"


def _show(directory: Path) -> int:
    try:
        manifest = read_manifest(directory)
    except (FileNotFoundError, ValueError) as error:
        return _fail(str(error))
    if not manifest:
        return _fail(f"the manifest in {directory} lists no models.")
    header = ("model", "file", "MB", "accuracy", "images", "notebook", "commit", "date")
    rows = [(*header, "precision", "file check")]
    statuses = {}
    for name in sorted(manifest):
        entry = manifest[name]
        statuses[name] = _file_status(directory, entry)
        rows.append(
            (
                name,
                entry["file"],
                f"{entry['bytes'] / 2**20:.1f}",
                f"{entry['test_accuracy']:.2%}",
                f"{entry['test_images']:,}",
                entry["notebook"],
                entry["commit"],
                entry["date"],
                entry["precision"],
                statuses[name],
            )
        )
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    for row in rows:
        cells = (cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        print("  ".join(cells).rstrip())
    print()
    for name in sorted(manifest):
        entry = manifest[name]
        print(f"{name}: trained on {entry['trained_on']}; machine: {entry['machine']}")
        print(f"  sha256 {entry['sha256']}")
    print(
        "(shipped as float32; accuracy: plain prediction, no test-time augmentation; "
        f"folder {directory})"
    )
    bad = [name for name, status in statuses.items() if status != "ok"]
    if bad:
        return _fail(
            f"shipped file(s) missing or changed: {', '.join(bad)}. "
            f"{_sentence(_MAINTAINER_ADVICE)}."
        )
    return EXIT_OK


def _update(args: argparse.Namespace, directory: Path) -> int:
    from cifar_utils import data, doctor

    date = args.date or datetime.date.today().isoformat()
    try:
        datetime.date.fromisoformat(date)
    except ValueError:
        print(f"{_PROG}: error: --date must be YYYY-MM-DD, got {date!r}", file=sys.stderr)
        return EXIT_USAGE
    machine = args.machine or doctor.cpu_model()
    model_dir = training.default_model_dir() if args.model_dir is None else args.model_dir
    names = args.models or [
        name for name in MODEL_NOTEBOOKS if (model_dir / f"{name}.keras").exists()
    ]
    if not names:
        wanted = ", ".join(
            f"{name}.keras ({notebook})" for name, notebook in MODEL_NOTEBOOKS.items()
        )
        return _fail(
            f"no trained models in {model_dir}: expected {wanted}. Run the notebooks (make run), "
            "or pass --model-dir with the training run's models folder."
        )
    missing = [name for name in names if not (model_dir / f"{name}.keras").exists()]
    if missing:
        return _fail(
            f"no {', '.join(f'{name}.keras' for name in missing)} in {model_dir}: run notebook "
            f"{', '.join(MODEL_NOTEBOOKS[name] for name in missing)} first, or leave it out of "
            "--models."
        )
    try:
        read_manifest(directory)  # a damaged manifest is reported before the long steps
    except FileNotFoundError:
        pass
    except ValueError as error:
        return _fail(str(error))

    try:
        _, (x_test, y_test) = data.load_cifar10(args.data_path)
        source = data.find_cifar10(args.data_path)
        content = data.compute_content_check(source)
    except (OSError, ValueError) as error:
        return _fail(f"cannot load the CIFAR-10 test set: {error}")
    commit = args.commit or git_commit()
    if not content.official:
        print(
            f"{_PROG}: warning: the test set in {source} is not the official CIFAR-10 (files "
            f"differ from the official release: {', '.join(content.differing) or 'none'}; "
            f"missing: {', '.join(content.missing) or 'none'}): the accuracies recorded are "
            "not those of the real test set. Pass --data-path with the official archive.",
            file=sys.stderr,
        )

    from cifar_utils import models

    for name in names:
        model_path = model_dir / f"{name}.keras"
        notebook = MODEL_NOTEBOOKS[name]
        try:
            precision = precision_of(models.load_model(model_path, made_by=notebook))
            entry = save_pretrained(
                model_path,
                name,
                x_test=x_test,
                y_test=y_test,
                notebook=notebook,
                commit=commit,
                date=date,
                machine=machine,
                precision=precision,
                trained_on=args.trained_on,
                directory=directory,
            )
        except (OSError, ValueError) as error:
            return _fail(f"{name}: {error}")
        print(
            f"{name}: {_shown(model_path)} (trained in {precision}) -> "
            f"{_shown(directory / entry['file'])} (float32, {entry['bytes'] / 2**20:.1f} MB), "
            f"{entry['test_accuracy']:.2%} accuracy on {entry['test_images']:,} test images"
        )
    print(f"manifest: {_shown(directory / MANIFEST_NAME)} (commit {commit}, {date}, {machine})")
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line: ``python -m cifar_utils.pretrained show|update [options]``.

    Args:
        argv: The arguments after the program name; ``None`` reads ``sys.argv[1:]``.

    Returns:
        The exit status: :data:`EXIT_OK` (0) on success, :data:`EXIT_FAILED` (1) when the
        manifest, a model, a shipped file or the test set is missing or damaged (one
        ``error:`` line on stderr), :data:`EXIT_USAGE` (2) for bad arguments.
    """
    parser = _build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_request:  # argparse exits on --help and on usage errors
        return exit_request.code if isinstance(exit_request.code, int) else EXIT_USAGE
    directory = PRETRAINED_DIR if args.pretrained_dir is None else args.pretrained_dir
    if args.command == "show":
        return _show(directory)
    return _update(args, directory)


if __name__ == "__main__":
    # Keep TensorFlow's C++ start-up chatter out of the output, as the Makefile does.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.exit(main())
