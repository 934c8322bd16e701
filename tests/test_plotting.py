"""Tests for cifar_utils.plotting: every helper draws tiny synthetic arrays with Agg."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display in tests; set before pyplot is imported

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.axes import Axes
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure
from PIL import Image

from cifar_utils import analysis, plotting

CLASS_NAMES = ("cat", "dog", "frog")


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _images(count: int, size: int = 8, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(count, size, size, 3), dtype=np.uint8)


def _visible_image_axes(fig: Figure) -> list[Axes]:
    return [ax for ax in fig.axes if ax.images]


# save_fig ------------------------------------------------------------------------------


def test_save_fig_writes_png_in_new_folder_and_returns_none(tmp_path):
    fig, ax = plt.subplots(figsize=(2, 2))
    ax.plot([0, 1], [0, 1])
    folder = tmp_path / "figures" / "01_data_exploration"

    result = plotting.save_fig(fig, "curve", folder)

    assert result is None
    assert [p.name for p in folder.iterdir()] == ["curve.png"]  # no temporary file left
    reference = tmp_path / "reference.txt"
    reference.write_text("")  # a file created the usual way, following the umask
    assert (folder / "curve.png").stat().st_mode == reference.stat().st_mode  # not 0600
    with Image.open(folder / "curve.png") as image:
        assert image.format == "PNG"
        assert "Software" not in image.info  # stable across matplotlib versions


def test_save_fig_accepts_png_suffix_and_overwrites(tmp_path):
    fig, ax = plt.subplots(figsize=(2, 2))
    plotting.save_fig(fig, "plot.png", tmp_path)
    first = (tmp_path / "plot.png").read_bytes()
    ax.plot([0, 1], [1, 0], linewidth=5)
    plotting.save_fig(fig, "plot", str(tmp_path))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plot.png"]
    assert (tmp_path / "plot.png").read_bytes() != first


@pytest.mark.parametrize("name", ["", "sub/plot", "../plot", "plot.jpg", ".."])
def test_save_fig_rejects_bad_names(tmp_path, name):
    fig, _ = plt.subplots()
    with pytest.raises(ValueError, match="save_fig"):
        plotting.save_fig(fig, name, tmp_path)


def test_save_fig_rejects_axes(tmp_path):
    _, ax = plt.subplots()
    with pytest.raises(ValueError, match=r"ax\.figure"):
        plotting.save_fig(ax, "plot", tmp_path)


def test_save_fig_leaves_no_partial_file_when_saving_fails(tmp_path, monkeypatch):
    fig, _ = plt.subplots()
    (tmp_path / "plot.png").write_bytes(b"old")

    def broken_savefig(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(fig, "savefig", broken_savefig)
    with pytest.raises(RuntimeError, match="disk full"):
        plotting.save_fig(fig, "plot", tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["plot.png"]
    assert (tmp_path / "plot.png").read_bytes() == b"old"  # the previous figure survives


# plot_history --------------------------------------------------------------------------


def test_plot_history_draws_train_and_validation():
    history = {"accuracy": [0.3, 0.5, 0.6], "val_accuracy": [0.35, 0.45, 0.5], "loss": [2, 1, 0.5]}
    ax = plotting.plot_history(history)
    assert isinstance(ax, Axes)
    assert [line.get_label() for line in ax.get_lines()] == ["train", "validation"]
    np.testing.assert_array_equal(ax.get_lines()[0].get_xdata(), [1, 2, 3])
    np.testing.assert_allclose(ax.get_lines()[1].get_ydata(), [0.35, 0.45, 0.5])
    assert ax.get_xlabel() == "epoch"
    assert ax.get_ylabel() == "accuracy"


def test_plot_history_without_validation_and_into_given_axes():
    _, given = plt.subplots()
    ax = plotting.plot_history({"loss": [1.0, 0.5]}, "loss", ax=given)
    assert ax is given
    assert [line.get_label() for line in ax.get_lines()] == ["train"]


def test_plot_history_missing_metric_lists_available_keys():
    with pytest.raises(ValueError, match=r"'accuracy'.*available: loss, val_loss"):
        plotting.plot_history({"loss": [1.0], "val_loss": [1.2]})


def test_plot_history_empty_metric():
    with pytest.raises(ValueError, match="non-empty"):
        plotting.plot_history({"accuracy": []})


# plot_image_grid -----------------------------------------------------------------------


def test_plot_image_grid_layout_titles_and_colors():
    fig = plotting.plot_image_grid(
        _images(5), titles=list("abcde"), ncols=3, title_colors=["red"] * 4 + ["blue"]
    )
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 6  # 2 rows x 3 columns, the last panel hidden
    shown = _visible_image_axes(fig)
    assert [ax.get_title() for ax in shown] == list("abcde")
    assert to_rgba(shown[-1].title.get_color()) == to_rgba("blue")
    assert not fig.axes[-1].axison and not fig.axes[-1].images


def test_plot_image_grid_titles_without_colors_and_float_images():
    images = np.linspace(0, 1, 2 * 4 * 4 * 3).reshape(2, 4, 4, 3)  # floats in 0-1
    fig = plotting.plot_image_grid(images, titles=["a", "b"])
    assert [ax.get_title() for ax in fig.axes] == ["a", "b"]


def test_plot_image_grid_grayscale_and_few_images():
    fig = plotting.plot_image_grid(np.zeros((2, 4, 4), dtype=np.uint8), ncols=8)
    assert len(fig.axes) == 2  # ncols shrinks to the number of images
    assert fig.axes[0].images[0].get_cmap().name == "gray"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"titles": ["a"]}, "1 titles"), ({"title_colors": ["r"] * 3}, "3 title_colors")],
)
def test_plot_image_grid_length_mismatch(kwargs, message):
    with pytest.raises(ValueError, match=message):
        plotting.plot_image_grid(_images(2), **kwargs)


def test_plot_image_grid_rejects_empty_and_bad_ncols():
    with pytest.raises(ValueError, match="no images"):
        plotting.plot_image_grid(np.zeros((0, 4, 4, 3), dtype=np.uint8))
    with pytest.raises(ValueError, match="ncols"):
        plotting.plot_image_grid(_images(2), ncols=0)


# plot_samples_per_class ----------------------------------------------------------------


def test_plot_samples_per_class_rows_names_and_short_classes():
    images = _images(9)
    labels = np.array([[0], [0], [0], [0], [1], [1], [1], [1], [2]])  # (N, 1), like Keras
    fig = plotting.plot_samples_per_class(images, labels, class_names=CLASS_NAMES, per_class=3)
    assert len(fig.axes) == 9  # 3 classes x 3 columns
    rows = np.array(fig.axes).reshape(3, 3)
    assert [row[0].get_ylabel() for row in rows] == list(CLASS_NAMES)
    assert [sum(bool(ax.images) for ax in row) for row in rows] == [3, 3, 1]
    # Each row shows images of its own class only.
    frog = rows[2][0].images[0].get_array()
    np.testing.assert_array_equal(frog, images[8])


def test_plot_samples_per_class_same_seed_same_images():
    images, labels = _images(30), np.arange(30) % 3

    def shown(seed):
        fig = plotting.plot_samples_per_class(
            images, labels, class_names=CLASS_NAMES, per_class=4, seed=seed
        )
        return np.stack([ax.images[0].get_array() for ax in fig.axes])

    np.testing.assert_array_equal(shown(1), shown(1))
    assert not np.array_equal(shown(1), shown(2))


@pytest.mark.parametrize(
    ("labels", "per_class", "message"),
    [
        (np.array([0, 1, 3]), 2, r"0\.\.2"),
        (np.array([0, 1]), 2, "one label each"),
        (np.array([0, 1, 2]), 0, "per_class"),
    ],
)
def test_plot_samples_per_class_rejects_bad_input(labels, per_class, message):
    with pytest.raises(ValueError, match=message):
        plotting.plot_samples_per_class(
            _images(3), labels, class_names=CLASS_NAMES, per_class=per_class
        )


# plot_predictions ----------------------------------------------------------------------


def test_plot_predictions_titles_and_colors():
    probabilities = np.array([[0.9, 0.05, 0.05], [0.2, 0.7, 0.1], [0.1, 0.3, 0.6]])
    y_true = np.array([[0], [2], [2]])
    fig = plotting.plot_predictions(
        _images(3), y_true, probabilities, class_names=CLASS_NAMES, ncols=2
    )
    shown = _visible_image_axes(fig)
    assert [ax.get_title() for ax in shown] == [
        "cat / cat (90%)",
        "frog / dog (70%)",
        "frog / frog (60%)",
    ]
    colors = [to_rgba(ax.title.get_color()) for ax in shown]
    correct, wrong = to_rgba(plotting.CORRECT_COLOR), to_rgba(plotting.WRONG_COLOR)
    assert colors == [correct, wrong, correct]


def test_plot_predictions_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match=r"\(N, 3\)"):
        plotting.plot_predictions(
            _images(2), [0, 1], np.full((2, 4), 0.25), class_names=CLASS_NAMES
        )
    with pytest.raises(ValueError, match="2 images, 1 labels"):
        plotting.plot_predictions(_images(2), [0], np.full((2, 3), 1 / 3), class_names=CLASS_NAMES)


# plot_confusion_matrix -----------------------------------------------------------------


def test_plot_confusion_matrix_normalized_rows():
    y_true = np.array([0, 0, 1, 1, 2, 2])
    y_pred = np.array([0, 1, 1, 1, 2, 0])
    ax = plotting.plot_confusion_matrix(y_true, y_pred, class_names=CLASS_NAMES)
    assert isinstance(ax, Axes)
    values = ax.images[0].get_array()
    np.testing.assert_allclose(values.sum(axis=1), 1.0)
    np.testing.assert_allclose(np.diag(values), [0.5, 1.0, 0.5])
    assert [t.get_text() for t in ax.get_xticklabels()] == list(CLASS_NAMES)
    assert ax.get_ylabel() == "True label"


def test_plot_confusion_matrix_counts_include_unpredicted_classes():
    _, given = plt.subplots()
    ax = plotting.plot_confusion_matrix(
        [0, 0, 1], [0, 0, 0], class_names=CLASS_NAMES, normalize=None, ax=given
    )
    assert ax is given
    values = ax.images[0].get_array()
    assert values.shape == (3, 3)  # "frog" appears in neither list but keeps its row
    np.testing.assert_array_equal(values[:, 0], [2, 1, 0])
    assert "2" in [t.get_text() for t in ax.texts]


def test_plot_confusion_matrix_rejects_bad_normalize_and_lengths():
    with pytest.raises(ValueError, match="normalize"):
        plotting.plot_confusion_matrix([0], [0], class_names=CLASS_NAMES, normalize="rows")
    with pytest.raises(ValueError, match="2 true labels and 1"):
        plotting.plot_confusion_matrix([0, 1], [0], class_names=CLASS_NAMES)


# plot_top_k / plot_photo_predictions ---------------------------------------------------


@dataclass(frozen=True)
class _FakePrediction:
    top_classes: tuple[str, ...]
    top_probabilities: tuple[float, ...]
    unsure: bool
    reason: str


def test_plot_top_k_orders_bars_and_shows_warning():
    ax = plotting.plot_top_k(("dog", "cat", "frog"), (0.4, 0.35, 0.1), warning="unsure!")
    bars = ax.patches
    assert [bar.get_width() for bar in bars] == [0.4, 0.35, 0.1]
    assert bars[0].get_y() > bars[1].get_y() > bars[2].get_y()  # most probable on top
    labels = {y: t.get_text() for y, t in zip(ax.get_yticks(), ax.get_yticklabels(), strict=True)}
    assert [labels[y] for y in sorted(labels, reverse=True)] == ["dog", "cat", "frog"]
    assert any("unsure!" in text.get_text() for text in ax.texts)
    assert ax.get_xlim() == (0.0, 1.0)


def test_plot_top_k_without_warning_and_bad_lengths():
    ax = plotting.plot_top_k(("dog",), (0.97,))
    assert [text.get_text() for text in ax.texts] == ["97%"]
    with pytest.raises(ValueError, match="2 classes and 1"):
        plotting.plot_top_k(("dog", "cat"), (0.9,))


def test_plot_photo_predictions_warns_only_when_unsure():
    predictions = [
        _FakePrediction(("cat", "dog", "frog"), (0.9, 0.08, 0.02), False, "sure"),
        _FakePrediction(("frog", "dog", "cat"), (0.4, 0.3, 0.3), True, "model is unsure"),
    ]
    fig = plotting.plot_photo_predictions(
        _images(2, size=32), predictions, titles=["a.jpg", "b.png"]
    )
    assert len(fig.axes) == 4
    image_axes, bar_axes = fig.axes[0::2], fig.axes[1::2]
    assert image_axes[0].get_title().startswith("a.jpg\n(32x32")
    assert image_axes[1].images[0].get_interpolation() == "nearest"
    assert not any("sure" in t.get_text() for t in bar_axes[0].texts)
    assert any("model is unsure" in t.get_text() for t in bar_axes[1].texts)


def test_plot_photo_predictions_rejects_mismatch():
    prediction = _FakePrediction(("cat",), (1.0,), False, "")
    with pytest.raises(ValueError, match="2 images, 1 predictions"):
        plotting.plot_photo_predictions(_images(2), [prediction])
    with pytest.raises(ValueError, match="no images"):
        plotting.plot_photo_predictions([], [])


# plot_reliability_diagram / plot_grad_cam ----------------------------------------------


def _calibration(accuracy: list[float]) -> pd.DataFrame:
    """A 4-bin table like analysis.compute_calibration's; the first bin is empty."""
    return pd.DataFrame(
        {
            "lower": [0.0, 0.25, 0.5, 0.75],
            "upper": [0.25, 0.5, 0.75, 1.0],
            "count": [0, 3, 5, 12],
            "confidence": [np.nan, 0.4, 0.6, 0.9],
            "accuracy": [np.nan, *accuracy],
        }
    )


def test_plot_reliability_diagram_draws_filled_bins_and_the_diagonal():
    ax = plotting.plot_reliability_diagram(_calibration([0.3, 0.5, 0.7]))
    assert isinstance(ax, Axes)
    diagonal, curve = ax.get_lines()
    assert diagonal.get_label() == plotting.PERFECT_CALIBRATION_LABEL
    np.testing.assert_array_equal(diagonal.get_xdata(), [0, 1])
    np.testing.assert_array_equal(diagonal.get_ydata(), [0, 1])
    np.testing.assert_allclose(curve.get_xdata(), [0.4, 0.6, 0.9])  # empty bin skipped
    np.testing.assert_allclose(curve.get_ydata(), [0.3, 0.5, 0.7])
    assert ax.get_xlim() == (0, 1) and ax.get_ylim() == (0, 1)
    assert [text.get_text() for text in ax.get_legend().get_texts()] == ["perfect calibration"]


def test_plot_reliability_diagram_twice_on_one_axes_with_labels():
    _, given = plt.subplots()
    ax = plotting.plot_reliability_diagram(_calibration([0.3, 0.5, 0.7]), ax=given, label="before")
    again = plotting.plot_reliability_diagram(_calibration([0.4, 0.6, 0.9]), ax=ax, label="after")
    assert ax is given and again is given
    labels = [line.get_label() for line in ax.get_lines()]
    assert labels == ["perfect calibration", "before", "after"]  # one diagonal only
    legend = [text.get_text() for text in ax.get_legend().get_texts()]
    assert legend == ["perfect calibration", "before", "after"]
    np.testing.assert_allclose(ax.get_lines()[2].get_ydata(), [0.4, 0.6, 0.9])


def test_plot_reliability_diagram_reads_compute_calibration():
    probabilities = np.array([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7], [0.4, 0.6]])
    table = analysis.compute_calibration(probabilities, [0, 1, 1, 1], n_bins=2)
    ax = plotting.plot_reliability_diagram(table)
    # Bin (0.5, 1] holds everything: mean confidence 0.75, 3 of 4 right; bin [0, 0.5] is empty.
    np.testing.assert_allclose(ax.get_lines()[1].get_xydata(), [[0.75, 0.75]])


def test_plot_reliability_diagram_rejects_bad_tables():
    with pytest.raises(ValueError, match=r"lacks the columns \['accuracy'\]"):
        plotting.plot_reliability_diagram(_calibration([0, 0, 0]).drop(columns="accuracy"))
    empty = _calibration([0, 0, 0]).assign(count=0)
    with pytest.raises(ValueError, match="every bin is empty"):
        plotting.plot_reliability_diagram(empty)


def test_plot_grad_cam_overlays_each_heatmap_on_its_image():
    images = np.random.default_rng(0).uniform(0, 1, (3, 32, 32, 3))
    heatmaps = np.stack([np.full((8, 8), value) for value in (0.0, 0.5, 1.0)])
    fig = plotting.plot_grad_cam(images, heatmaps, titles=["a", "b", "c"], ncols=2, alpha=0.4)
    assert isinstance(fig, Figure)
    shown = _visible_image_axes(fig)
    assert [ax.get_title() for ax in shown] == ["a", "b", "c"]
    for ax, image, heatmap in zip(shown, images, heatmaps, strict=True):
        picture, overlay = ax.images
        np.testing.assert_array_equal(picture.get_array(), image)
        np.testing.assert_array_equal(overlay.get_array(), heatmap)
        assert overlay.get_cmap().name == "jet"
        assert overlay.get_alpha() == 0.4
        assert overlay.get_clim() == (0.0, 1.0)
        assert overlay.get_extent() == [-0.5, 31.5, 31.5, -0.5]  # stretched over the image


def test_plot_grad_cam_without_titles():
    fig = plotting.plot_grad_cam(_images(2, size=4), np.zeros((2, 4, 4)))
    assert [ax.get_title() for ax in fig.axes] == ["", ""]
    assert all(len(ax.images) == 2 for ax in fig.axes)


@pytest.mark.parametrize(
    ("heatmaps", "kwargs", "message"),
    [
        (np.zeros((1, 4, 4)), {}, "one map per image"),
        (np.zeros((2, 4)), {}, "one map per image"),
        (np.full((2, 4, 4), 1.5), {}, r"in \[0, 1\]"),
        (np.full((2, 4, 4), np.nan), {}, "without NaN"),
        (np.zeros((2, 4, 4)), {"alpha": 1.5}, "alpha"),
        (np.zeros((2, 4, 4)), {"titles": ["a"]}, "1 titles"),
    ],
)
def test_plot_grad_cam_rejects_bad_input(heatmaps, kwargs, message):
    with pytest.raises(ValueError, match=message):
        plotting.plot_grad_cam(_images(2, size=4), heatmaps, **kwargs)


def test_plot_grad_cam_rejects_images_without_color_channels():
    with pytest.raises(ValueError, match=r"\(N, H, W, 3\)"):
        plotting.plot_grad_cam(np.zeros((2, 4, 4)), np.zeros((2, 4, 4)))


# Global behaviour ----------------------------------------------------------------------


def test_helpers_never_show_save_or_close(monkeypatch, tmp_path):
    def forbidden(*args, **kwargs):
        raise AssertionError("a plotting helper must not show, save or close figures")

    monkeypatch.setattr(plt, "show", forbidden)
    monkeypatch.setattr(plt, "close", forbidden)
    monkeypatch.setattr(plt, "savefig", forbidden)
    monkeypatch.setattr(Figure, "savefig", forbidden)
    before = len(plt.get_fignums())
    plotting.plot_history({"loss": [1.0, 0.5], "val_loss": [1.1, 0.7]}, "loss")
    plotting.plot_image_grid(_images(3))
    plotting.plot_samples_per_class(_images(6), np.arange(6) % 3, class_names=CLASS_NAMES)
    plotting.plot_predictions(_images(2), [0, 1], np.full((2, 3), 1 / 3), class_names=CLASS_NAMES)
    plotting.plot_confusion_matrix([0, 1], [1, 1], class_names=CLASS_NAMES)
    plotting.plot_top_k(("cat",), (0.5,))
    plotting.plot_photo_predictions(_images(1), [_FakePrediction(("cat",), (0.5,), True, "unsure")])
    plotting.plot_reliability_diagram(_calibration([0.3, 0.5, 0.7]))
    plotting.plot_grad_cam(_images(1), np.zeros((1, 4, 4)))
    assert len(plt.get_fignums()) == before + 9  # each helper made exactly one figure


def test_import_changes_no_rcparams():
    """In a fresh interpreter: reloading in this one would not undo a change made at the
    first import."""
    code = (
        "import matplotlib\n"
        "before = {k: repr(v) for k, v in matplotlib.rcParams.items()}\n"
        "backend = matplotlib.get_backend()\n"
        "import cifar_utils.plotting\n"
        "after = {k: repr(v) for k, v in matplotlib.rcParams.items()}\n"
        "changed = sorted(k for k in before if before[k] != after[k])\n"
        "print(changed, backend == matplotlib.get_backend())\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[] True"


# default_figure_dir -------------------------------------------------------------------------


def test_default_figure_dir_follows_the_environment_variable(monkeypatch, tmp_path):
    monkeypatch.setenv("CIFAR10_FIGURE_DIR", str(tmp_path / "figs"))
    assert (
        plotting.default_figure_dir("01_data_exploration")
        == tmp_path / "figs" / "01_data_exploration"
    )
    assert not (tmp_path / "figs").exists(), "default_figure_dir must not create the folder"


@pytest.mark.parametrize("value", [None, ""])
def test_default_figure_dir_keeps_student_runs_out_of_the_committed_figures(
    monkeypatch, tmp_path, value
):
    if value is None:
        monkeypatch.delenv("CIFAR10_FIGURE_DIR", raising=False)
    else:
        monkeypatch.setenv("CIFAR10_FIGURE_DIR", value)
    monkeypatch.chdir(tmp_path)  # any working directory: papermill from the project root
    root = Path(plotting.__file__).resolve().parent.parent
    assert (
        plotting.default_figure_dir("04_predictions")
        == root / "build" / "figures" / "04_predictions"
    )


def test_default_figure_dir_without_a_checkout_is_in_the_working_directory(monkeypatch, tmp_path):
    monkeypatch.delenv("CIFAR10_FIGURE_DIR", raising=False)
    monkeypatch.setattr(plotting.files, "project_root", lambda: None)
    monkeypatch.chdir(tmp_path)
    assert plotting.default_figure_dir("01_x") == tmp_path / "figures" / "01_x"


@pytest.mark.parametrize("name", ["", ".", "..", "a/b"])
def test_default_figure_dir_rejects_what_is_not_a_notebook_name(name):
    with pytest.raises(ValueError, match="notebook's name"):
        plotting.default_figure_dir(name)


# plot_time_to_accuracy ----------------------------------------------------------------


def test_plot_time_to_accuracy_draws_each_run_against_minutes():
    runs = {
        "02": pd.DataFrame({"minutes": [1.0, 2.0], "validation accuracy": [0.5, 0.7]}),
        "06": {"minutes": [2.5, 5.0, 7.5], "validation accuracy": [0.6, 0.8, 0.9]},
    }
    ax = plotting.plot_time_to_accuracy(runs)
    lines = ax.get_lines()
    assert [line.get_label() for line in lines] == ["02", "06", "original ResNet (90.35%, test)"]
    np.testing.assert_allclose(lines[1].get_xdata(), [2.5, 5.0, 7.5])
    np.testing.assert_allclose(lines[1].get_ydata(), [0.6, 0.8, 0.9])
    np.testing.assert_allclose(lines[2].get_ydata(), [0.9035, 0.9035])
    assert ax.get_xlabel() == "minutes of training" and ax.get_ylim() == (0, 1)
    assert ax.get_xlim()[0] == 0


def test_plot_time_to_accuracy_without_reference_into_given_axes():
    _, given = plt.subplots()
    table = {"minutes": [1.0], "validation accuracy": [0.4]}
    ax = plotting.plot_time_to_accuracy({"run": table}, reference=None, ax=given)
    assert ax is given and [line.get_label() for line in ax.get_lines()] == ["run"]


@pytest.mark.parametrize(
    ("runs", "match"),
    [
        ({}, "no runs"),
        ({"a": {"minutes": [1.0]}}, "'validation accuracy'"),
        ({"a": {"minutes": [], "validation accuracy": []}}, "at least one"),
        ({"a": {"minutes": [1.0, 2.0], "validation accuracy": [0.5]}}, "one minutes value"),
    ],
)
def test_plot_time_to_accuracy_rejects_bad_tables(runs, match):
    with pytest.raises(ValueError, match=match):
        plotting.plot_time_to_accuracy(runs)
