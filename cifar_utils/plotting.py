"""Figures used across the notebook series, and one way to save them.

Every ``plot_*`` helper draws and returns: one panel returns its ``Axes`` (and takes
``ax=None`` to draw into an existing one), several panels return the ``Figure``. Helpers
never call ``plt.show()``, ``savefig`` or ``plt.close()``; a notebook saves a figure with
``plotting.save_fig(fig, "name", figure_dir)`` and then shows it with ``plt.show()``;
:func:`default_figure_dir` says where figures go when the notebook's ``FIGURE_DIR`` is "".

Importing this module changes no matplotlib settings (no rcParams, no backend).

Introduced by notebooks: ``plot_samples_per_class`` (01), ``plot_history`` (02),
``plot_confusion_matrix`` (02), ``plot_predictions`` and ``plot_photo_predictions`` (04),
``plot_reliability_diagram`` and ``plot_grad_cam`` (05).
"""

from __future__ import annotations

import math
import os
import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from cifar_utils import files

if TYPE_CHECKING:
    import pandas as pd

FIGURE_DIR_ENV_VAR = files.FIGURE_DIR_ENV_VAR
#: Resolution of saved figures: sharp on the web, small in git.
SAVE_DPI = 120
#: Title colours of :func:`plot_predictions`.
CORRECT_COLOR = "tab:green"
WRONG_COLOR = "tab:red"

_NORMALIZE_CHOICES = ("true", "pred", "all", None)
#: Label of the diagonal drawn by :func:`plot_reliability_diagram`.
PERFECT_CALIBRATION_LABEL = "perfect calibration"
_CALIBRATION_COLUMNS = ("count", "confidence", "accuracy")


class TopKPrediction(Protocol):
    """What :func:`plot_photo_predictions` reads from each prediction.

    :class:`cifar_utils.predict.Prediction` has these attributes.
    """

    top_classes: tuple[str, ...]
    top_probabilities: tuple[float, ...]
    unsure: bool
    reason: str


def default_figure_dir(notebook: str) -> Path:
    """Where a notebook saves its figures when its ``FIGURE_DIR`` is "".

    ``$CIFAR10_FIGURE_DIR/<notebook>`` when that is set: the series' full run in place
    sets it to the project's ``figures/``, whose figures are committed. Otherwise
    ``build/figures/<notebook>`` in the project checkout, whatever the working directory
    (git-ignored: a student's run never rewrites the committed figures), or
    ``figures/<notebook>`` in the working directory when the package was installed without
    a checkout (Colab). The folder is not created.

    Args:
        notebook: The notebook's name without ``.ipynb``, e.g. ``"01_data_exploration"``.
    """
    if not notebook or Path(notebook).name != notebook or notebook in {".", ".."}:
        raise ValueError(
            f"default_figure_dir: notebook {notebook!r} must be a notebook's name such as "
            "'01_data_exploration'."
        )
    configured = os.environ.get(FIGURE_DIR_ENV_VAR)
    if configured:
        return Path(configured).expanduser() / notebook
    if files.project_root() is not None:
        return files.project_folder("build", "figures", notebook)
    return files.project_folder("figures", notebook)


def save_fig(fig: Figure, name: str, directory: str | os.PathLike[str]) -> None:
    """Save a figure as ``directory/name.png`` (PNG, 120 dpi, tight bounding box).

    The folder is created if needed. The file is written to a temporary file in the same
    folder and then moved into place, so an interrupted run never leaves a half-written
    PNG behind. Returns None, so calling it last in a notebook cell prints nothing.

    Args:
        fig: The figure to save (for example the one a ``plot_*`` helper returned, or
            ``ax.figure``).
        name: File name without folders, for example ``"dataset"``; ``".png"`` is added
            when missing.
        directory: Folder for the file, for example ``"../figures/01_data_exploration"``.

    Raises:
        ValueError: If ``name`` is empty, contains a folder separator or has a suffix
            other than ``.png``.
    """
    if not isinstance(fig, Figure):
        raise ValueError(
            f"save_fig expects a matplotlib Figure, got {type(fig).__name__}; "
            "pass the figure a plot_* helper returned, or `ax.figure` for an Axes."
        )
    stem = Path(name)
    if not name or stem.name != name or name in {".", ".."}:
        raise ValueError(
            f"save_fig: name {name!r} must be a plain file name such as 'dataset' "
            "(put folders in `directory`)."
        )
    if stem.suffix.lower() not in {"", ".png"}:
        raise ValueError(
            f"save_fig writes PNG files; name {name!r} has the suffix {stem.suffix!r}. "
            "Drop the suffix or use '.png'."
        )
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / (name if stem.suffix.lower() == ".png" else f"{name}.png")

    with files.atomic_path(target) as temporary:
        # No "Software" entry: the PNG then does not change with the matplotlib version.
        fig.savefig(
            temporary,
            format="png",
            dpi=SAVE_DPI,
            bbox_inches="tight",
            metadata={"Software": None},
        )


def plot_history(
    history: Mapping[str, Sequence[float]], metric: str = "accuracy", *, ax: Axes | None = None
) -> Axes:
    """Plot the training and validation curves of one metric, epoch by epoch.

    Args:
        history: Per-epoch values, as in ``model.fit(...).history``: keys such as
            ``"loss"``, ``"accuracy"``, ``"val_loss"``, ``"val_accuracy"``. A missing
            ``"val_<metric>"`` key (training without validation data) draws the training
            curve only.
        metric: The key to plot, for example ``"accuracy"`` or ``"loss"``.
        ax: Axes to draw into; a new 5 x 3.5 inch figure when None.

    Returns:
        The Axes, with epochs (1, 2, ...) on x and the metric on y.

    Raises:
        ValueError: If ``metric`` is not in ``history`` or has no values.
    """
    if metric not in history:
        available = ", ".join(sorted(history)) or "none"
        raise ValueError(
            f"plot_history: metric {metric!r} is not in the history (available: {available}). "
            "Pass one of those, or compile the model with that metric."
        )
    train = np.asarray(history[metric], dtype=float)
    if train.ndim != 1 or train.size == 0:
        raise ValueError(
            f"plot_history: history[{metric!r}] must be a non-empty list of per-epoch values."
        )
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 3.5), layout="constrained")
    epochs = np.arange(1, train.size + 1)
    ax.plot(epochs, train, marker="o" if train.size == 1 else None, label="train")
    val_key = f"val_{metric}"
    if val_key in history:
        val = np.asarray(history[val_key], dtype=float)
        val_epochs = np.arange(1, val.size + 1)
        ax.plot(val_epochs, val, "--", marker="o" if val.size == 1 else None, label="validation")
    ax.set(xlabel="epoch", ylabel=metric)
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.grid(alpha=0.3)
    ax.legend()
    return ax


def plot_time_to_accuracy(
    runs: Mapping[str, Any],
    *,
    reference: float | None = 0.9035,
    reference_label: str = "original ResNet (90.35%, test)",
    ax: Axes | None = None,
) -> Axes:
    """Plot validation accuracy against minutes of training, one line per run.

    Args:
        runs: By label, a table with ``minutes`` and ``validation accuracy`` columns, one
            row per epoch, as :meth:`cifar_utils.callbacks.TrainingBackup.progress` returns
            (a pandas DataFrame, or a mapping of the two columns to sequences).
        reference: An accuracy drawn as a dashed horizontal line; None for none.
        reference_label: The legend's text for that line.
        ax: Axes to draw into; a new 5.5 x 3.2 inch figure when None.

    Returns:
        The Axes: minutes on x (from 0), accuracy on y (0 to 1).

    Raises:
        ValueError: If ``runs`` is empty, or a run lacks a column or has none of its rows.
    """
    if not runs:
        raise ValueError("plot_time_to_accuracy: no runs to draw; pass {label: progress table}.")
    if ax is None:
        _, ax = plt.subplots(figsize=(5.5, 3.2), layout="constrained")
    for label, table in runs.items():
        missing = [key for key in ("minutes", "validation accuracy") if key not in table]
        if missing:
            raise ValueError(
                f"plot_time_to_accuracy: run {label!r} has no {' or '.join(map(repr, missing))} "
                "column; pass TrainingBackup.progress() (or a table read from its CSV)."
            )
        minutes = np.asarray(table["minutes"], dtype=float)
        accuracy = np.asarray(table["validation accuracy"], dtype=float)
        if minutes.size == 0 or minutes.shape != accuracy.shape:
            raise ValueError(
                f"plot_time_to_accuracy: run {label!r} needs one minutes value per accuracy, "
                f"at least one (got {minutes.size} and {accuracy.size})."
            )
        ax.plot(minutes, accuracy, "o-", markersize=3, label=label)
    if reference is not None:
        ax.axhline(reference, color="gray", linestyle="--", label=reference_label)
    ax.set(xlabel="minutes of training", ylabel="validation accuracy", ylim=(0, 1))
    ax.set_xlim(left=0)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    return ax


def plot_image_grid(
    images: np.ndarray | Sequence[np.ndarray],
    *,
    titles: Sequence[str] | None = None,
    ncols: int = 8,
    title_colors: Sequence[str] | None = None,
) -> Figure:
    """Show images in a grid, one small panel each, with optional titles.

    Args:
        images: N images, each (H, W, 3) or (H, W); uint8 in 0-255 or float in 0-1
            (as ``imshow`` expects). A (N, H, W, 3) array works.
        titles: N titles, or None for no titles.
        ncols: Panels per row; the number of rows follows from N.
        title_colors: N matplotlib colours for the titles, or None for the default.

    Returns:
        The Figure (about 1.3 inches per panel). Unused panels of the last row are hidden.

    Raises:
        ValueError: If there are no images, ``ncols`` < 1, or ``titles``/``title_colors``
            do not have one entry per image.
    """
    count = len(images)
    if count == 0:
        raise ValueError("plot_image_grid: got no images; pass at least one image.")
    if ncols < 1:
        raise ValueError(f"plot_image_grid: ncols must be at least 1, got {ncols}.")
    for label, values in (("titles", titles), ("title_colors", title_colors)):
        if values is not None and len(values) != count:
            raise ValueError(
                f"plot_image_grid: got {count} images but {len(values)} {label}; "
                f"pass one entry per image (or None)."
            )
    ncols = min(ncols, count)
    nrows = math.ceil(count / ncols)
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(1.3 * ncols, 1.45 * nrows), squeeze=False, layout="constrained"
    )
    for index, ax in enumerate(axes.flat):
        ax.set_axis_off()
        if index >= count:
            continue
        image = np.asarray(images[index])
        ax.imshow(image, cmap="gray" if image.ndim == 2 else None, interpolation="nearest")
        if titles is not None:
            style = {"color": title_colors[index]} if title_colors is not None else {}
            ax.set_title(titles[index], fontsize=8, **style)
    return fig


def plot_samples_per_class(
    images: np.ndarray,
    labels: np.ndarray,
    *,
    class_names: Sequence[str],
    per_class: int = 10,
    seed: int = 0,
) -> Figure:
    """Show randomly chosen images of every class: one row per class, its name on the left.

    Args:
        images: uint8, shape (N, H, W, 3), 0-255 (for example ``x_train``).
        labels: Integer class ids, shape (N,) or (N, 1), in ``0 .. len(class_names) - 1``.
        class_names: One name per class id, for example ``data.CLASS_NAMES``.
        per_class: Images per row. A class with fewer images shows what it has.
        seed: Seed of the random choice, so the same images come back each run.

    Returns:
        The Figure (``len(class_names)`` rows, ``per_class`` columns).

    Raises:
        ValueError: If shapes disagree, a label is out of range, or ``per_class`` < 1.
    """
    images = np.asarray(images)
    labels = np.asarray(labels).reshape(-1)
    num_classes = len(class_names)
    if images.ndim not in (3, 4) or len(images) != len(labels):
        raise ValueError(
            "plot_samples_per_class: images must be (N, H, W, 3) or (N, H, W) with one label "
            f"each; got images {images.shape} and {len(labels)} labels."
        )
    if per_class < 1:
        raise ValueError(f"plot_samples_per_class: per_class must be >= 1, got {per_class}.")
    if num_classes == 0:
        raise ValueError("plot_samples_per_class: class_names is empty.")
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(
            f"plot_samples_per_class: labels must lie in 0..{num_classes - 1} "
            f"(one per class name); got {labels.min()}..{labels.max()}."
        )
    rng = np.random.default_rng(seed)
    fig, axes = plt.subplots(
        num_classes,
        per_class,
        figsize=(0.9 * per_class + 1.2, 0.9 * num_classes),
        squeeze=False,
        layout="constrained",
    )
    for class_id, row in enumerate(axes):
        members = np.flatnonzero(labels == class_id)
        chosen = rng.choice(members, size=min(per_class, members.size), replace=False)
        for column, ax in enumerate(row):
            ax.set_xticks([])
            ax.set_yticks([])
            for spine in ax.spines.values():
                spine.set_visible(False)
            if column < chosen.size:
                image = images[chosen[column]]
                # "nearest": the real pixels, and small PNGs (smoothed pixels compress badly)
                ax.imshow(image, cmap="gray" if image.ndim == 2 else None, interpolation="nearest")
        row[0].set_ylabel(class_names[class_id], rotation=0, ha="right", va="center", fontsize=10)
    return fig


def plot_predictions(
    images: np.ndarray,
    y_true: np.ndarray,
    probabilities: np.ndarray,
    *,
    class_names: Sequence[str],
    ncols: int = 5,
) -> Figure:
    """Show images titled "true / predicted (confidence)"; mistakes in red, hits in green.

    Args:
        images: uint8, shape (N, H, W, 3), 0-255 (raw images, not normalized ones).
        y_true: True class ids, shape (N,) or (N, 1).
        probabilities: float, shape (N, num_classes), each row the model's softmax output
            (as returned by ``model.predict``).
        class_names: One name per class id, for example ``data.CLASS_NAMES``.
        ncols: Panels per row.

    Returns:
        The Figure.

    Raises:
        ValueError: If the lengths or the number of classes disagree.
    """
    y_true = np.asarray(y_true).reshape(-1)
    probabilities = np.asarray(probabilities, dtype=float)
    if probabilities.ndim != 2 or probabilities.shape[1] != len(class_names):
        raise ValueError(
            "plot_predictions: probabilities must have shape (N, number of classes) = "
            f"(N, {len(class_names)}); got {probabilities.shape}."
        )
    if not len(images) == len(y_true) == len(probabilities):
        raise ValueError(
            f"plot_predictions: got {len(images)} images, {len(y_true)} labels and "
            f"{len(probabilities)} probability rows; pass one of each per image."
        )
    y_pred = probabilities.argmax(axis=1)
    confidence = probabilities.max(axis=1)
    titles = [
        f"{class_names[t]} / {class_names[p]} ({c:.0%})"
        for t, p, c in zip(y_true, y_pred, confidence, strict=True)
    ]
    colors = [CORRECT_COLOR if t == p else WRONG_COLOR for t, p in zip(y_true, y_pred, strict=True)]
    fig = plot_image_grid(images, titles=titles, ncols=ncols, title_colors=colors)
    # Wider panels than plot_image_grid's default: the titles are long.
    ncols_used = min(ncols, len(titles))
    fig.set_size_inches(1.9 * ncols_used, 1.9 * math.ceil(len(titles) / ncols_used))
    fig.suptitle("true / predicted (confidence)", fontsize=10)
    return fig


def plot_confusion_matrix(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    *,
    class_names: Sequence[str],
    normalize: str | None = "true",
    ax: Axes | None = None,
) -> Axes:
    """Plot the confusion matrix: rows are true classes, columns predicted classes.

    Uses ``sklearn.metrics.ConfusionMatrixDisplay.from_predictions``.

    Args:
        y_true: True class ids, shape (N,) or (N, 1), in ``0 .. len(class_names) - 1``.
        y_pred: Predicted class ids, same shape (for example ``probabilities.argmax(1)``).
        class_names: One name per class id.
        normalize: ``"true"`` (each row sums to 1: the diagonal is per-class recall),
            ``"pred"`` (columns sum to 1), ``"all"``, or None for raw counts.
        ax: Axes to draw into; a new 7 x 6 inch figure when None.

    Returns:
        The Axes.

    Raises:
        ValueError: If ``normalize`` is not one of the choices or the lengths differ.
    """
    from sklearn.metrics import ConfusionMatrixDisplay  # heavy import, only when used

    if normalize not in _NORMALIZE_CHOICES:
        raise ValueError(
            f"plot_confusion_matrix: normalize must be one of {_NORMALIZE_CHOICES}, "
            f"got {normalize!r}."
        )
    y_true = np.asarray(y_true).reshape(-1)
    y_pred = np.asarray(y_pred).reshape(-1)
    if len(y_true) != len(y_pred):
        raise ValueError(
            f"plot_confusion_matrix: got {len(y_true)} true labels and {len(y_pred)} "
            "predictions; pass one prediction per label."
        )
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 6), layout="constrained")
    display = ConfusionMatrixDisplay.from_predictions(
        y_true,
        y_pred,
        labels=np.arange(len(class_names)),
        display_labels=list(class_names),
        normalize=normalize,
        values_format=".2f" if normalize else "d",
        cmap="Blues",
        xticks_rotation=45,
        colorbar=False,
        text_kw={"fontsize": 8},
        ax=ax,
    )
    titles = {
        "true": "each row sums to 1 (the diagonal is each class's recall)",
        "pred": "each column sums to 1 (the diagonal is each class's precision)",
        "all": "all cells sum to 1",
        None: "number of images",
    }
    ax.set_title(titles[normalize], fontsize=10)
    return display.ax_


def plot_top_k(
    top_classes: Sequence[str],
    top_probabilities: Sequence[float],
    *,
    warning: str = "",
    ax: Axes | None = None,
) -> Axes:
    """Horizontal bar chart of a model's top-k classes, best on top, with an optional warning.

    Args:
        top_classes: Class names, most probable first (``Prediction.top_classes``).
        top_probabilities: Their probabilities in 0-1, same length, descending.
        warning: Text written in red under the bars (for example ``Prediction.reason``
            when the model is unsure); empty for none.
        ax: Axes to draw into; a new 4 x 2 inch figure when None.

    Returns:
        The Axes, x from 0 to 1.

    Raises:
        ValueError: If the two sequences are empty or differ in length.
    """
    if len(top_classes) == 0 or len(top_classes) != len(top_probabilities):
        raise ValueError(
            f"plot_top_k: got {len(top_classes)} classes and {len(top_probabilities)} "
            "probabilities; pass one probability per class (at least one)."
        )
    if ax is None:
        _, ax = plt.subplots(figsize=(4, 2), layout="constrained")
    positions = np.arange(len(top_classes))[::-1]  # the most probable at the top
    color = "tab:orange" if warning else "tab:blue"
    ax.barh(positions, top_probabilities, color=color)
    ax.set_yticks(positions, list(top_classes))
    for position, probability in zip(positions, top_probabilities, strict=True):
        ax.text(min(probability, 0.8) + 0.02, position, f"{probability:.0%}", va="center")
    ax.set_xlim(0, 1)
    ax.set_xlabel("probability")
    if warning:
        ax.text(
            0.0,
            -0.45,
            textwrap.fill(f"\u26a0 {warning}", width=60),
            transform=ax.transAxes,
            color=WRONG_COLOR,
            fontsize=8,
            va="top",
        )
    return ax


def plot_photo_predictions(
    images: Sequence[np.ndarray] | np.ndarray,
    predictions: Sequence[TopKPrediction],
    *,
    titles: Sequence[str] | None = None,
) -> Figure:
    """One row per photo: the small image the model sees, and its top-k classes as bars.

    Rows where ``prediction.unsure`` is true get orange bars and the prediction's
    ``reason`` as a red warning, so an unsure answer is never mistaken for a confident one.

    Args:
        images: The model's inputs, uint8, each (32, 32, 3), 0-255 (as returned by
            ``predict.load_photo``), drawn pixel by pixel (no smoothing).
        predictions: One per image, each with ``top_classes``, ``top_probabilities``,
            ``unsure`` and ``reason`` (``predict.predict_top_k`` returns these).
        titles: One title per image (for example the file names), or None.

    Returns:
        The Figure (``len(images)`` rows, 2 columns).

    Raises:
        ValueError: If there are no images, or the lengths differ.
    """
    count = len(images)
    if count == 0:
        raise ValueError("plot_photo_predictions: got no images; pass at least one.")
    if len(predictions) != count or (titles is not None and len(titles) != count):
        raise ValueError(
            f"plot_photo_predictions: got {count} images, {len(predictions)} predictions and "
            f"{'no' if titles is None else len(titles)} titles; pass one of each per image."
        )
    fig, axes = plt.subplots(
        count,
        2,
        figsize=(6.5, 2.1 * count),
        squeeze=False,
        width_ratios=(1, 2.2),
        layout="constrained",
    )
    for index, (image_ax, bar_ax) in enumerate(axes):
        prediction = predictions[index]
        image_ax.imshow(np.asarray(images[index]), interpolation="nearest")
        image_ax.set_xticks([])
        image_ax.set_yticks([])
        height, width = np.asarray(images[index]).shape[:2]
        title = f"{titles[index]}\n" if titles is not None else ""
        image_ax.set_title(f"{title}({width}x{height}, as the model sees it)", fontsize=8)
        plot_top_k(
            prediction.top_classes,
            prediction.top_probabilities,
            warning=prediction.reason if prediction.unsure else "",
            ax=bar_ax,
        )
        best = f"{prediction.top_classes[0]} ({prediction.top_probabilities[0]:.0%})"
        if prediction.unsure:
            bar_ax.set_title(f"UNSURE, best guess: {best}", fontsize=9, color=WRONG_COLOR)
        else:
            bar_ax.set_title(f"prediction: {best}", fontsize=9)
    return fig


def plot_reliability_diagram(
    calibration: pd.DataFrame, *, ax: Axes | None = None, label: str | None = None
) -> Axes:
    """Reliability diagram: accuracy against confidence, bin by bin, beside the diagonal.

    A point below the dashed diagonal is a bin where the model is over-confident (right
    less often than it claims); above it, under-confident. Call it twice on the same Axes
    with labels (for example before and after temperature scaling) to compare: the
    diagonal is drawn only once.

    Args:
        calibration: The table of ``analysis.compute_calibration``: one row per bin with
            columns ``count``, ``confidence`` (mean confidence, 0-1) and ``accuracy``
            (0-1). Empty bins (count 0) are skipped.
        ax: Axes to draw into; a new 4 x 4 inch figure when None.
        label: Legend entry of this curve (for example ``"before, ECE 4.1%"``), or None.

    Returns:
        The Axes, both axes from 0 to 1.

    Raises:
        ValueError: If a column is missing or no bin holds any prediction.
    """
    missing = [column for column in _CALIBRATION_COLUMNS if column not in calibration]
    if missing:
        raise ValueError(
            f"plot_reliability_diagram: calibration lacks the columns {missing}; pass the "
            "table returned by analysis.compute_calibration."
        )
    filled = calibration[np.asarray(calibration["count"]) > 0]
    if len(filled) == 0:
        raise ValueError("plot_reliability_diagram: every bin is empty; nothing to draw.")
    if ax is None:
        _, ax = plt.subplots(figsize=(4, 4), layout="constrained")
    if not any(line.get_label() == PERFECT_CALIBRATION_LABEL for line in ax.get_lines()):
        ax.plot([0, 1], [0, 1], "--", color="gray", label=PERFECT_CALIBRATION_LABEL)
    ax.plot(
        np.asarray(filled["confidence"], dtype=float),
        np.asarray(filled["accuracy"], dtype=float),
        marker="o",
        markersize=4,
        **({"label": label} if label is not None else {}),
    )
    ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="confidence (mean per bin)", ylabel="accuracy")
    ax.set_aspect("equal")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize=8)
    return ax


def plot_grad_cam(
    images: np.ndarray,
    heatmaps: np.ndarray,
    *,
    titles: Sequence[str] | None = None,
    ncols: int = 8,
    alpha: float = 0.5,
) -> Figure:
    """Show images with their Grad-CAM heat maps laid over them (jet: red is high).

    Args:
        images: The images for display (not normalised), shape (N, H, W, 3): float in
            0-1 or uint8 in 0-255, for example ``x_test[indices]``.
        heatmaps: float, shape (N, h, w), in 0-1 (as returned by
            ``analysis.compute_grad_cam``); a map of another size than its image is
            stretched over it.
        titles: N titles (for example "true / predicted"), or None for no titles.
        ncols: Panels per row.
        alpha: Opacity of the heat maps, 0 (invisible) to 1 (hides the image).

    Returns:
        The Figure, one panel per image (laid out as :func:`plot_image_grid`).

    Raises:
        ValueError: If shapes or lengths disagree, heat maps leave [0, 1] or contain NaN,
            ``alpha`` is outside [0, 1], or ``ncols`` < 1.
    """
    images = np.asarray(images)
    heatmaps = np.asarray(heatmaps)
    if images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"plot_grad_cam: images must have shape (N, H, W, 3), got {images.shape}.")
    if heatmaps.ndim != 3 or len(heatmaps) != len(images):
        raise ValueError(
            f"plot_grad_cam: heatmaps must have shape (N, h, w) with one map per image; got "
            f"{heatmaps.shape} for {len(images)} images."
        )
    if heatmaps.size and (
        not np.isfinite(heatmaps).all() or heatmaps.min() < 0 or heatmaps.max() > 1
    ):
        raise ValueError(
            "plot_grad_cam: heatmaps must lie in [0, 1] without NaN (as compute_grad_cam "
            "returns them)."
        )
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"plot_grad_cam: alpha must be in [0, 1], got {alpha!r}.")
    fig = plot_image_grid(images, titles=titles, ncols=ncols)
    height, width = images.shape[1:3]
    for ax, heatmap in zip(_image_axes(fig), heatmaps, strict=True):
        ax.imshow(
            heatmap,
            cmap="jet",
            vmin=0.0,
            vmax=1.0,
            alpha=alpha,
            extent=(-0.5, width - 0.5, height - 0.5, -0.5),
            interpolation="bilinear",
        )
    return fig


def _image_axes(fig: Figure) -> list[Axes]:
    """The panels of a :func:`plot_image_grid` figure that show an image, in order."""
    return [ax for ax in fig.axes if ax.images]


def plot_image_rows(
    rows: Mapping[str, Sequence[np.ndarray] | np.ndarray],
    *,
    column_titles: Sequence[str] | None = None,
) -> Figure:
    """Show images in labelled rows: each row's name on the left, column titles on top.

    Introduced by notebook 07, for one image under every corruption (rows) and severity
    (columns).

    Args:
        rows: Row name -> that row's images, each (H, W, 3) or (H, W), uint8 in 0-255 or
            float in 0-1 (a (K, H, W, 3) array works). Rows may differ in length; the
            grid is as wide as the longest row.
        column_titles: One title per column (for example the severities), or None.

    Returns:
        The Figure, about 0.9 inch per panel, drawn pixel by pixel (no smoothing).

    Raises:
        ValueError: If there are no rows, a row is empty, or ``column_titles`` does not
            have one title per column.
    """
    if not rows:
        raise ValueError("plot_image_rows: got no rows; pass {row name: images}.")
    empty = [name for name, images in rows.items() if len(images) == 0]
    if empty:
        raise ValueError(f"plot_image_rows: rows {empty} have no images.")
    ncols = max(len(images) for images in rows.values())
    if column_titles is not None and len(column_titles) != ncols:
        raise ValueError(
            f"plot_image_rows: got {len(column_titles)} column titles for {ncols} columns."
        )
    fig, axes = plt.subplots(
        len(rows),
        ncols,
        figsize=(0.9 * ncols + 1.4, 0.9 * len(rows) + 0.3),
        squeeze=False,
        layout="constrained",
    )
    for row_axes, (name, images) in zip(axes, rows.items(), strict=True):
        for column, ax in enumerate(row_axes):
            ax.set_xticks([])
            ax.set_yticks([])
            for spine in ax.spines.values():
                spine.set_visible(False)
            if column < len(images):
                image = np.asarray(images[column])
                ax.imshow(image, cmap="gray" if image.ndim == 2 else None, interpolation="nearest")
        row_axes[0].set_ylabel(name, rotation=0, ha="right", va="center", fontsize=9)
    for ax, title in zip(axes[0], column_titles or (), strict=False):
        ax.set_title(title, fontsize=9)
    return fig
