"""Run a trained CIFAR-10 model on your own photos (notebook 04).

A CIFAR-10 model only ever saw 32 x 32 RGB images of ten classes. To ask it about a photo,
:func:`load_photo` turns any common image file into exactly such an image (the model's
view of the photo), and :func:`predict_top_k` returns the model's top classes together with
an honest "unsure" flag, because a model trained on ten classes always answers with one of
them, even for a photo of something else.

Supported files (through Pillow): JPEG, PNG, GIF (first frame), WebP and BMP, in any size
and any Pillow mode (grey, palette, RGBA, CMYK, 16-bit, ...). Other formats Pillow reads
(TIFF, ...) usually work too. iPhone HEIC photos do not: convert them to JPEG first.

Command line
------------
The same steps as a small command, for files and folders (a folder means the photos
directly in it, as :func:`load_photos` finds them). It works straight after ``pip install``:
without ``--model`` it uses your own ResNet (``resnet.keras`` in
:func:`cifar_utils.training.default_model_dir`, saved by notebook 03) when there is one, else
the ResNet shipped with the package (see :mod:`cifar_utils.pretrained`), and says which in
one line on stderr. For example (numbers are illustrative; long lines cut here with
"...")::

    $ python -m cifar_utils.predict notebooks/photos/cat_chelsea.jpg my_photos
    using the shipped model: resnet.keras, trained by 03_resnet on ... (stderr)
    notebooks/photos/cat_chelsea.jpg: cat 87%, dog 6%, deer 3%
    my_photos/beach.webp: ship 41%, airplane 22%, bird 12%
      unsure: top probability 0.41 < 0.50: the model is unsure; the photo may show ...
    my_photos/IMG_0042.HEIC: error: not an image file Pillow can read. Use JPEG, PNG, ...
    2 photos predicted, 1 could not be read
    $ echo $?
    1

Options: ``--model PATH`` (exactly that ``.keras`` file; default: your own ResNet, else the
shipped one, as above), ``--top-k 3``, ``--crop center_crop|letterbox`` (see
:func:`load_photo`), ``--min-confidence 0.5`` (see :func:`predict_top_k`) and ``--json`` (one
JSON document on stdout instead of text; its ``model_source`` says which model). A file
that cannot be read gets one ``PATH: error: MESSAGE`` line and the other files are still
predicted. Exit status: 0 when every file was predicted, 1 when at least one file or folder
gave no prediction (the others are still printed), 2 for usage errors and for a missing or
unusable model (one ``error:`` line on stderr, no traceback). TensorFlow is imported only
once the arguments are valid, so ``--help`` is instant.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from cifar_utils import data, pretrained, training

#: ``mode`` choices of :func:`load_photo`.
CROP_MODES = ("center_crop", "letterbox")
#: File suffixes :func:`load_photos` skips in a photo folder (notes, not photos).
NOT_PHOTO_SUFFIXES = frozenset({".md", ".txt", ".rst", ".html", ".json", ".csv", ".yaml", ".yml"})
#: Background of transparent pixels and of the letterbox bars (white, 0-255 RGB).
BACKGROUND = (255, 255, 255)

_SIXTEEN_BIT_MODES = frozenset({"I;16", "I;16L", "I;16B", "I;16N"})


@dataclass(frozen=True)
class Prediction:
    """The model's answer for one image.

    Attributes:
        top_classes: The k most probable class names, most probable first.
        top_probabilities: Their softmax probabilities (0-1), descending.
        unsure: True when the top probability is below ``min_confidence``.
        reason: One sentence explaining ``unsure`` (shown next to the prediction).
    """

    top_classes: tuple[str, ...]
    top_probabilities: tuple[float, ...]
    unsure: bool
    reason: str


def _open_checked(path: Path, *, min_side: int) -> Image.Image:
    """Open and decode an image file, turning every failure into a ValueError.

    JPEGs are decoded at a reduced scale when both sides stay >= ``min_side`` (much faster
    for phone photos, and the image is shrunk to a few dozen pixels anyway).
    """
    try:
        with warnings.catch_warnings():
            # Pillow only *warns* between MAX_IMAGE_PIXELS and twice that: refuse those too.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                image.seek(0)  # GIF/WebP animations: the first frame
                image.draft(None, (min_side, min_side))  # JPEG only; others ignore it
                image.load()
                # exif_transpose copies the pixels, so they survive closing the file.
                return ImageOps.exif_transpose(image)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        limit = Image.MAX_IMAGE_PIXELS or 0
        raise ValueError(
            f"{path.name}: refused to open, the image is too large ({_one_line(error)}). "
            f"Shrink it below {limit:,} pixels, or raise PIL.Image.MAX_IMAGE_PIXELS if you "
            "trust the file."
        ) from error
    except UnidentifiedImageError as error:
        raise ValueError(
            f"{path.name}: not an image file Pillow can read. Use JPEG, PNG, GIF, WebP or BMP "
            "(convert other formats such as HEIC first), or remove the file from the folder."
        ) from error
    except PermissionError as error:
        raise ValueError(
            f"{path.name}: cannot be read (permission denied). Fix its permissions or copy it."
        ) from error
    except (OSError, SyntaxError, ValueError, EOFError) as error:
        raise ValueError(
            f"{path.name}: the image file is broken or truncated ({_one_line(error)}). "
            "Re-export or re-download it, or remove it from the folder."
        ) from error


def _one_line(error: BaseException) -> str:
    """An exception's message on a single line (notebook 04 prints one line per file)."""
    return " ".join(str(error).split()) or type(error).__name__


def _to_rgb(image: Image.Image) -> Image.Image:
    """Convert any Pillow mode to 8-bit RGB; transparency is composited on white."""
    if image.mode in _SIXTEEN_BIT_MODES or image.mode in {"I", "F"}:
        # 16-bit (0-65535) and 32-bit images: scale to 0-255 (Pillow's convert would clip).
        # "I" and "F" hold no range: values up to 255 are taken as 8-bit, up to 1.0 (for
        # "F") as 0-1, and anything larger as 16-bit.
        values = np.nan_to_num(np.asarray(image, dtype=np.float64))
        peak = values.max(initial=0.0)
        if image.mode in _SIXTEEN_BIT_MODES or peak > 255:
            values = values / 257.0
        elif image.mode == "F" and peak <= 1.0:
            values = values * 255.0
        grey = np.clip(np.rint(values), 0, 255).astype(np.uint8)
        return Image.fromarray(grey).convert("RGB")
    has_alpha = image.mode in {"RGBA", "LA", "PA", "RGBa", "La"} or (
        image.mode in {"P", "L", "RGB"} and "transparency" in image.info
    )
    if has_alpha:
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (*BACKGROUND, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def load_photo(
    path: str | os.PathLike[str], *, size: int = 32, mode: str = "center_crop"
) -> np.ndarray:
    """Load an image file as the small RGB image a CIFAR-10 model takes.

    Steps: decode with Pillow (first frame of an animation), rotate as the camera's EXIF
    orientation says, convert to RGB (transparent pixels on white, CMYK and palette images
    converted, 16-bit images scaled to 8 bits), make it square, then shrink it to
    ``size`` x ``size`` with a Lanczos filter (which averages pixels, so no aliasing).

    Args:
        path: An image file: JPEG, PNG, GIF, WebP or BMP (others Pillow reads work too).
        size: Side of the output in pixels; 32 for CIFAR-10 models.
        mode: How to make the photo square. ``"center_crop"`` keeps the largest centred
            square (the subject fills the image, as in CIFAR-10, but the edges are lost);
            ``"letterbox"`` keeps the whole photo and pads the short side with white bars.

    Returns:
        uint8, shape (size, size, 3), 0-255, RGB: what ``x_test[i]`` looks like.

    Raises:
        FileNotFoundError: If ``path`` does not exist.
        ValueError: If ``mode``/``size`` are invalid, or the file is empty, not an image,
            broken, or larger than ``PIL.Image.MAX_IMAGE_PIXELS`` (a "decompression
            bomb"). The message names the file and says what to do.
    """
    if mode not in CROP_MODES:
        raise ValueError(f"load_photo: mode must be one of {CROP_MODES}, got {mode!r}.")
    if not isinstance(size, int) or isinstance(size, bool) or size < 1:
        raise ValueError(f"load_photo: size must be a positive integer, got {size!r}.")
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"load_photo: no file at {path}; check the path and the name.")
    if path.is_dir():
        raise ValueError(f"load_photo: {path} is a folder, not an image file; use load_photos.")
    if path.stat().st_size == 0:
        raise ValueError(
            f"{path.name}: the file is empty (0 bytes). Copy the photo again or remove the file."
        )

    image = _open_checked(path, min_side=8 * size)
    try:
        image = _to_rgb(image)
    except ValueError as error:  # a rare mode Pillow cannot convert to RGB
        raise ValueError(
            f"{path.name}: cannot convert its {image.mode} pixels to RGB ({_one_line(error)}). "
            "Re-save the photo as an RGB JPEG or PNG."
        ) from error
    if mode == "center_crop":
        width, height = image.size
        side = min(width, height)
        left, top = (width - side) // 2, (height - side) // 2
        small = image.resize(
            (size, size),
            Image.Resampling.LANCZOS,
            box=(left, top, left + side, top + side),
            reducing_gap=3.0,  # box-average big photos first: fast, and just as sharp
        )
    else:
        small = ImageOps.pad(image, (size, size), method=Image.Resampling.LANCZOS, color=BACKGROUND)
    return np.array(small, dtype=np.uint8)


def _photo_files(folder: Path) -> list[Path]:
    """The files of ``folder`` that :func:`load_photos` loads, sorted by name (any case)."""
    return [
        path
        for path in sorted(folder.iterdir(), key=lambda p: p.name.lower())
        if not path.name.startswith(".")
        and path.is_file()
        and path.suffix.lower() not in NOT_PHOTO_SUFFIXES
    ]


def load_photos(
    folder: str | os.PathLike[str], *, size: int = 32, mode: str = "center_crop"
) -> list[tuple[Path, np.ndarray | ValueError]]:
    """Load every photo in a folder; a bad file gives an error entry, not an exception.

    Hidden files and notes (``README.md``, ``*.txt`` and other suffixes in
    :data:`NOT_PHOTO_SUFFIXES`) are skipped; every other file is loaded with
    :func:`load_photo`.

    Args:
        folder: The folder to read (not recursive).
        size: Passed to :func:`load_photo`.
        mode: Passed to :func:`load_photo`.

    Returns:
        ``(path, result)`` pairs sorted by file name, where ``result`` is the uint8
        (size, size, 3) image, or the ``ValueError`` that explains (in one line) why the
        file could not be used.

    Raises:
        FileNotFoundError: If ``folder`` does not exist.
        ValueError: If ``folder`` is a file, or ``mode``/``size`` are invalid.
    """
    folder = Path(folder)
    if not folder.exists():
        raise FileNotFoundError(
            f"load_photos: no folder at {folder.resolve()}; create it and put photos in it."
        )
    if not folder.is_dir():
        raise ValueError(f"load_photos: {folder} is a file; pass the folder that holds photos.")
    if mode not in CROP_MODES:  # checked here too, so a typo is not reported once per file
        raise ValueError(f"load_photos: mode must be one of {CROP_MODES}, got {mode!r}.")
    if not isinstance(size, int) or isinstance(size, bool) or size < 1:
        raise ValueError(f"load_photos: size must be a positive integer, got {size!r}.")
    results: list[tuple[Path, np.ndarray | ValueError]] = []
    for path in _photo_files(folder):
        try:
            results.append((path, load_photo(path, size=size, mode=mode)))
        except ValueError as error:
            results.append((path, error))
    return results


def predict_top_k(
    model: Any,
    images_uint8: np.ndarray,
    *,
    k: int = 3,
    class_names: Sequence[str] = data.CLASS_NAMES,
    min_confidence: float = 0.5,
) -> list[Prediction]:
    """Classify raw images and return each one's k most probable classes.

    The images are normalized here with ``data.normalize`` (the same preprocessing as in
    training), so pass raw uint8 images such as the ones :func:`load_photo` returns.

    A model trained on ten classes spreads its probability over those ten only: a photo
    of a person still gets a "cat" or a "frog". ``unsure`` flags answers whose top
    probability is below ``min_confidence``. A high probability is no proof either:
    models are often confidently wrong on images unlike their training data.

    Args:
        model: A Keras model ending in a softmax over ``len(class_names)`` classes that
            takes normalized float32 (N, 32, 32, 3) images, or any object with a
            ``predict(x, verbose=0)`` method returning such (N, num_classes) rows.
        images_uint8: uint8, shape (N, 32, 32, 3) or one image (32, 32, 3), 0-255.
        k: How many classes to return per image, 1 .. ``len(class_names)``.
        class_names: One name per model output, for example ``data.CLASS_NAMES``.
        min_confidence: Top probabilities below it (0-1) make the prediction "unsure".

    Returns:
        One :class:`Prediction` per image, in input order.

    Raises:
        ValueError: If the images are not uint8 (N, H, W, 3), ``k`` or
            ``min_confidence`` is out of range, or the model's outputs are not
            probability rows over ``len(class_names)`` classes.
    """
    images = np.asarray(images_uint8)
    if images.dtype != np.uint8:
        raise ValueError(
            f"predict_top_k: images must be raw uint8 (0-255), got {images.dtype}. Pass the "
            "images from load_photo or x_test; predict_top_k normalizes them itself."
        )
    if images.ndim == 3:
        images = images[np.newaxis]
    if images.ndim != 4 or images.shape[-1] != 3 or len(images) == 0:
        raise ValueError(
            "predict_top_k: images must have shape (N, H, W, 3) or (H, W, 3), "
            f"got {np.asarray(images_uint8).shape}."
        )
    num_classes = len(class_names)
    if not 1 <= k <= num_classes:
        raise ValueError(f"predict_top_k: k must be between 1 and {num_classes}, got {k}.")
    if not 0.0 <= min_confidence <= 1.0:
        raise ValueError(
            f"predict_top_k: min_confidence is a probability in 0-1, got {min_confidence}."
        )

    probabilities = np.asarray(model.predict(data.normalize(images), verbose=0), dtype=float)
    if probabilities.shape != (len(images), num_classes):
        raise ValueError(
            f"predict_top_k: the model returned shape {probabilities.shape}, expected "
            f"{(len(images), num_classes)} (one probability per class name and image). "
            "Check the model and class_names."
        )
    row_sums = probabilities.sum(axis=1)
    if probabilities.min() < -1e-6 or not np.allclose(row_sums, 1.0, atol=1e-3):
        raise ValueError(
            "predict_top_k: the model's outputs are not probabilities (rows sum to "
            f"{row_sums.min():.3g}..{row_sums.max():.3g}); end the model with a softmax layer."
        )

    predictions = []
    for row in probabilities:
        order = np.argsort(-row, kind="stable")[:k]
        top = float(row[order[0]])
        unsure = top < min_confidence
        if unsure:
            reason = (
                f"top probability {top:.2f} < {min_confidence:.2f}: the model is unsure; "
                "the photo may show none of the ten classes"
            )
        else:
            reason = f"top probability {top:.2f} >= {min_confidence:.2f}"
        predictions.append(
            Prediction(
                top_classes=tuple(str(class_names[i]) for i in order),
                top_probabilities=tuple(float(row[i]) for i in order),
                unsure=unsure,
                reason=reason,
            )
        )
    return predictions


# Command line --------------------------------------------------------------------------

#: Exit status of :func:`main`: every file was predicted.
EXIT_OK = 0
#: Exit status of :func:`main`: at least one file or folder gave no prediction.
EXIT_SOME_FAILED = 1
#: Exit status of :func:`main`: bad arguments, or no usable model.
EXIT_USAGE = 2

_PROG = "python -m cifar_utils.predict"
_NO_PHOTOS = (
    "no photos in this folder (JPEG, PNG, GIF, WebP or BMP files; hidden files, notes and "
    "subfolders are skipped)"
)


#: The model the command uses without ``--model`` (see :func:`cifar_utils.pretrained.load_model`).
DEFAULT_MODEL_NAME = "resnet"


def default_model_path() -> Path:
    """Return your own model, which the command prefers without ``--model``: notebook 03's ResNet.

    Returns:
        ``resnet.keras`` in :func:`cifar_utils.training.default_model_dir` (the file may
        not exist; the command then uses the ResNet shipped with the package).
    """
    return training.default_model_dir() / f"{DEFAULT_MODEL_NAME}.keras"


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=_PROG,
        description=(
            "Classify photos with a trained CIFAR-10 model: the top classes with their "
            "probabilities, and a warning when the prediction should not be trusted."
        ),
        epilog=(
            "exit status: 0 when every file was predicted; 1 when at least one file or folder "
            "gave no prediction (the others are still printed); 2 for usage errors and a "
            "missing or unusable model."
        ),
    )
    parser.add_argument(
        "paths",
        nargs="+",
        type=Path,
        metavar="PATH",
        help="image files (JPEG, PNG, GIF, WebP, BMP, ...) or folders of them (not recursive)",
    )
    parser.add_argument(
        "--model",
        type=Path,
        default=None,
        metavar="PATH",
        help=f"trained .keras model to use (default: your own {default_model_path()} if it "
        "exists, else the ResNet shipped with the package)",
    )
    parser.add_argument(
        "--top-k",
        type=int,
        default=3,
        metavar="K",
        help=f"classes to show per photo, 1-{len(data.CLASS_NAMES)} (default: %(default)s)",
    )
    parser.add_argument(
        "--crop",
        choices=CROP_MODES,
        default="center_crop",
        help=(
            "how to make a photo square: keep the centred square, or keep the whole photo "
            "and pad it with white bars (default: %(default)s)"
        ),
    )
    parser.add_argument(
        "--min-confidence",
        type=float,
        default=0.5,
        metavar="P",
        help="flag a prediction as unsure when its top probability is below P, 0-1 "
        "(default: %(default)s)",
    )
    parser.add_argument(
        "--json", action="store_true", help="print one JSON document instead of text lines"
    )
    return parser


def _error_text(error: BaseException, path: Path) -> str:
    """One line for ``PATH: error: ...``, without the file name the message starts with."""
    message = _one_line(error)
    for prefix in (f"{path.name}: ", "load_photo: "):
        message = message.removeprefix(prefix)
    if not isinstance(error, (OSError, ValueError)):  # a decoder bug on a malformed file
        message = f"the image file is broken ({type(error).__name__}: {message})"
    return message


def _load_one(path: Path, *, mode: str) -> np.ndarray | str:
    """Load one photo; any failure becomes its one-line message."""
    if not path.exists():
        return "no such file or folder; check the path"
    try:
        return load_photo(path, mode=mode)
    # Broad on purpose: a Pillow decoder that trips over a malformed file (struct.error,
    # IndexError, ...) must not stop the other files.
    except Exception as error:
        return _error_text(error, path)


def _collect_photos(paths: Sequence[Path], *, mode: str) -> list[tuple[str, np.ndarray | str]]:
    """Expand folders and load every photo: ``(path as shown, image or error message)``."""
    entries: list[tuple[str, np.ndarray | str]] = []
    for path in paths:
        if not path.is_dir():
            entries.append((str(path), _load_one(path, mode=mode)))
            continue
        try:
            # The files load_photos would load; _load_one then turns *every* failure into a
            # message (load_photos lets anything but ValueError stop the whole folder).
            photo_paths = _photo_files(path)
        except OSError as error:  # for example, no permission to list the folder
            entries.append((str(path), f"cannot list the folder ({_one_line(error)})"))
            continue
        if not photo_paths:
            entries.append((str(path), _NO_PHOTOS))
        entries.extend(
            (str(photo_path), _load_one(photo_path, mode=mode)) for photo_path in photo_paths
        )
    return entries


def _quiet_tensorflow() -> None:
    """Hide TensorFlow's start-up log lines (too late once TensorFlow is imported)."""
    if "tensorflow" not in sys.modules:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _missing_model_message(path: Path) -> str:
    return f"no trained model at {path}: run notebook 03 (make run) first, or pass --model"


def _load_default_model() -> tuple[Any, str, str]:
    """Your own ResNet, else the shipped one: ``(model, path shown, which one in a line)``.

    Raises:
        ValueError: With a one-line message for the user.
    """
    _quiet_tensorflow()
    own = default_model_path()
    try:
        model, source = pretrained.load_model(DEFAULT_MODEL_NAME, model_dir=own.parent)
    except FileNotFoundError as error:
        if own.exists():  # your own file is there, but not a file (a folder)
            raise ValueError(_one_line(error)) from None
        raise ValueError(_missing_model_message(own)) from None
    except ValueError as error:
        raise ValueError(_one_line(error)) from None
    if own.exists():
        path = own
    else:
        entry = pretrained.read_manifest()[DEFAULT_MODEL_NAME]
        path = pretrained.PRETRAINED_DIR / entry["file"]
    return model, str(path), source


def _load_model(path: Path) -> Any:
    """Load a Keras model file; raise ValueError with a one-line message for the user."""
    if not path.exists():
        raise ValueError(_missing_model_message(path))
    if not path.is_file():
        raise ValueError(f"{path} is not a file: pass the .keras file of a trained model")
    _quiet_tensorflow()
    import keras

    # Registers the project's own layers and schedule, which saved models refer to.
    from cifar_utils import callbacks, models  # noqa: F401

    try:
        return keras.models.load_model(str(path), compile=False)
    # Keras raises many types for a file that is not a model (ValueError, OSError,
    # zipfile.BadZipFile, KeyError, ...): all mean "this is not a usable model".
    except Exception as error:
        message = _one_line(error)
        if len(message) > 300:
            message = message[:297] + "..."
        raise ValueError(
            f"cannot load a Keras model from {path} ({message}); pass a .keras file saved "
            "by notebook 02 or 03 with --model"
        ) from error


def _fail(message: str) -> int:
    print(f"{_PROG}: error: {message}", file=sys.stderr)
    return EXIT_USAGE


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line: ``python -m cifar_utils.predict PATH [PATH ...] [options]``.

    Prints one line per photo (``PATH: cat 87%, dog 6%, deer 3%``, plus an indented
    ``unsure:`` line when the prediction should not be trusted), one
    ``PATH: error: MESSAGE`` line per file that could not be read, and a count; or, with
    ``--json``, one JSON document. See the module docstring for the options.

    Args:
        argv: The arguments after the program name; ``None`` reads ``sys.argv[1:]``.

    Returns:
        The exit status: :data:`EXIT_OK` (0) when every file was predicted,
        :data:`EXIT_SOME_FAILED` (1) when at least one file or folder gave no prediction
        (the others are still predicted and printed), :data:`EXIT_USAGE` (2) for bad
        arguments or a missing or unusable model (one line on stderr, no traceback).
    """
    parser = _build_parser()
    try:
        args = parser.parse_args(argv)
        if not 1 <= args.top_k <= len(data.CLASS_NAMES):
            parser.error(f"--top-k must be between 1 and {len(data.CLASS_NAMES)}, got {args.top_k}")
        if not 0.0 <= args.min_confidence <= 1.0:
            parser.error(f"--min-confidence is a probability in 0-1, got {args.min_confidence}")
    except SystemExit as exit_request:  # argparse exits on --help and on usage errors
        return exit_request.code if isinstance(exit_request.code, int) else EXIT_USAGE

    # The model first: a missing model is reported at once, before any photo is read.
    try:
        if args.model is None:
            model, model_shown, source = _load_default_model()
            if not args.json:
                print(f"using {source}", file=sys.stderr)
        else:
            model = _load_model(args.model)
            model_shown, source = str(args.model), f"the model passed with --model: {args.model}"
    except ValueError as error:
        return _fail(str(error))

    entries = _collect_photos(args.paths, mode=args.crop)
    images = [result for _, result in entries if isinstance(result, np.ndarray)]
    predictions: list[Prediction] = []
    if images:
        try:
            predictions = predict_top_k(
                model, np.stack(images), k=args.top_k, min_confidence=args.min_confidence
            )
        # Broad: a model with another input shape or output fails inside Keras.
        except Exception as error:
            return _fail(
                f"the model at {model_shown} cannot classify 32 x 32 RGB photos into the ten "
                f"CIFAR-10 classes ({_one_line(error)[:300]}); pass a CIFAR-10 model with --model"
            )
    failed = len(entries) - len(images)

    ranked = iter(predictions)
    results: list[dict[str, Any]] = []
    lines: list[str] = []
    for shown, result in entries:
        if isinstance(result, str):
            results.append({"path": shown, "error": result})
            lines.append(f"{shown}: error: {result}")
            continue
        prediction = next(ranked)
        pairs = list(zip(prediction.top_classes, prediction.top_probabilities, strict=True))
        results.append(
            {
                "path": shown,
                "top_k": [{"class": name, "probability": p} for name, p in pairs],
                "unsure": prediction.unsure,
                "reason": prediction.reason,
            }
        )
        lines.append(f"{shown}: " + ", ".join(f"{name} {p:.0%}" for name, p in pairs))
        if prediction.unsure:
            lines.append(f"  unsure: {prediction.reason}")

    if args.json:
        document = {
            "model": model_shown,
            "model_source": source,
            "crop": args.crop,
            "min_confidence": args.min_confidence,
            "predicted": len(images),
            "failed": failed,
            "results": results,
        }
        print(json.dumps(document, indent=2))
    else:
        lines.append(f"{_plural(len(images), 'photo')} predicted, {failed} could not be read")
        print("\n".join(lines))
    return EXIT_SOME_FAILED if failed else EXIT_OK


if __name__ == "__main__":
    raise SystemExit(main())
