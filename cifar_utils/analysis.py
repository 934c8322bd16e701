"""Error analysis and calibration: what a trained model gets wrong, where it looks, and
how far its confidence can be trusted.

Introduced by notebook 05. The helpers take the arrays a notebook already has: true
labels, predicted labels or the model's softmax ``probabilities`` (``model.predict``),
and for Grad-CAM the model and a few normalised images.

- Mistakes: :func:`compute_per_class_metrics`, :func:`compute_confused_pairs`,
  :func:`compute_confidently_wrong`.
- Where the model looks: :func:`compute_grad_cam` (Selvaraju et al. 2017).
- Calibration: :func:`compute_calibration`, :func:`compute_expected_calibration_error`,
  and temperature scaling with :func:`fit_temperature` and :func:`apply_temperature`
  (Guo et al. 2017, "On Calibration of Modern Neural Networks").

Nothing here runs on import; TensorFlow, scikit-learn and SciPy are imported by the
functions that use them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

#: Range searched by :func:`fit_temperature`; a result at either end means the search
#: was cut off there (a badly broken model or labels that do not match the predictions).
TEMPERATURE_BOUNDS = (0.05, 20.0)
#: Columns of :func:`compute_calibration`'s table, in order.
CALIBRATION_COLUMNS = ("lower", "upper", "count", "confidence", "accuracy")

# Smallest probability before taking logs: float32 softmax outputs can be exactly 0.
_SMALLEST_PROBABILITY = float(np.finfo(np.float32).tiny)
# Rows of a softmax output sum to 1 up to float32 rounding (and averaging over TTA views).
_ROW_SUM_TOLERANCE = 1e-3


# --- Input checks ------------------------------------------------------------------------


def _check_positive_int(where: str, name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{where}: {name} must be a positive integer, got {value!r}.")
    return int(value)


def _check_labels(where: str, name: str, labels: Any, num_classes: int) -> np.ndarray:
    """Class ids as a 1-D int64 array; (N,) and Keras's (N, 1) are both accepted."""
    array = np.asarray(labels)
    if array.ndim == 2 and array.shape[1] == 1:
        array = array.reshape(-1)
    if array.ndim != 1:
        raise ValueError(
            f"{where}: {name} must be class ids of shape (N,) or (N, 1), got shape {array.shape}."
        )
    if array.size and (array.dtype == bool or not np.issubdtype(array.dtype, np.integer)):
        raise ValueError(
            f"{where}: {name} must be integer class ids, got dtype {array.dtype}; "
            "for probabilities, take `.argmax(axis=1)` first."
        )
    array = array.astype(np.int64)
    if array.size and (array.min() < 0 or array.max() >= num_classes):
        raise ValueError(
            f"{where}: {name} must lie in 0..{num_classes - 1} (one id per class); "
            f"got values {array.min()}..{array.max()}."
        )
    return array


def _check_label_pair(
    where: str, y_true: Any, y_pred: Any, class_names: Sequence[str]
) -> tuple[np.ndarray, np.ndarray]:
    num_classes = len(class_names)
    if num_classes == 0:
        raise ValueError(f"{where}: class_names is empty; pass one name per class id.")
    y_true = _check_labels(where, "y_true", y_true, num_classes)
    y_pred = _check_labels(where, "y_pred", y_pred, num_classes)
    if len(y_true) != len(y_pred):
        raise ValueError(
            f"{where}: got {len(y_true)} true labels and {len(y_pred)} predictions; "
            "pass one prediction per label."
        )
    if len(y_true) == 0:
        raise ValueError(f"{where}: got no labels; pass at least one.")
    return y_true, y_pred


def _check_probabilities(where: str, probabilities: Any) -> np.ndarray:
    """Softmax outputs as float64, shape (N, K), N >= 1, K >= 2."""
    array = np.asarray(probabilities)
    if array.ndim != 2 or array.shape[0] == 0 or array.shape[1] < 2:
        raise ValueError(
            f"{where}: probabilities must have shape (N, num_classes) with N >= 1 and at "
            f"least 2 classes (as returned by model.predict); got shape {array.shape}."
        )
    if not (np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.integer)):
        raise ValueError(f"{where}: probabilities must be numbers, got dtype {array.dtype}.")
    array = array.astype(np.float64)
    if not np.isfinite(array).all():
        raise ValueError(
            f"{where}: probabilities contain NaN or infinite values "
            f"({int((~np.isfinite(array)).sum())} of them); check the model's output."
        )
    sums = array.sum(axis=1)
    if array.min() < 0 or array.max() > 1 or np.abs(sums - 1).max() > _ROW_SUM_TOLERANCE:
        raise ValueError(
            f"{where}: each row of probabilities must lie in [0, 1] and sum to 1 (softmax "
            f"outputs, not logits); got values {array.min():.3g}..{array.max():.3g} and row "
            f"sums {sums.min():.4g}..{sums.max():.4g}."
        )
    return array


def _check_probabilities_and_labels(
    where: str, probabilities: Any, y_true: Any
) -> tuple[np.ndarray, np.ndarray]:
    probabilities = _check_probabilities(where, probabilities)
    y_true = _check_labels(where, "y_true", y_true, probabilities.shape[1])
    if len(y_true) != len(probabilities):
        raise ValueError(
            f"{where}: got {len(probabilities)} probability rows and {len(y_true)} labels; "
            "pass one label per row."
        )
    return probabilities, y_true


# --- Mistakes ----------------------------------------------------------------------------


def compute_per_class_metrics(
    y_true: np.ndarray, y_pred: np.ndarray, *, class_names: Sequence[str]
) -> pd.DataFrame:
    """Precision, recall, F1, support and accuracy of every class.

    Uses ``sklearn.metrics.precision_recall_fscore_support`` with ``zero_division=0``
    (a class never predicted gets precision 0 rather than a warning).

    Args:
        y_true: True class ids, shape (N,) or (N, 1), in ``0 .. len(class_names) - 1``.
        y_pred: Predicted class ids, same shape (for example ``probabilities.argmax(1)``).
        class_names: One name per class id, for example ``data.CLASS_NAMES``.

    Returns:
        One row per class, indexed by class name, with float columns ``precision``,
        ``recall``, ``f1`` (in 0-1), int column ``support`` (images of that class) and
        ``accuracy``: the share of that class's images classified correctly, which is the
        same number as its recall (0 for a class with no images).

    Raises:
        ValueError: If the labels are empty, out of range, not integers, or differ in length.
    """
    from sklearn.metrics import precision_recall_fscore_support  # heavy import, only when used

    y_true, y_pred = _check_label_pair("compute_per_class_metrics", y_true, y_pred, class_names)
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=np.arange(len(class_names)), zero_division=0
    )
    table = pd.DataFrame(
        {
            "precision": precision.astype(float),
            "recall": recall.astype(float),
            "f1": f1.astype(float),
            "support": support.astype(np.int64),
            "accuracy": recall.astype(float),
        },
        index=pd.Index(list(class_names), name="class"),
    )
    return table


def compute_confused_pairs(
    y_true: np.ndarray, y_pred: np.ndarray, *, class_names: Sequence[str], top: int = 5
) -> pd.DataFrame:
    """The most frequent mistakes, as (true class, predicted class) pairs.

    Counts come from ``sklearn.metrics.confusion_matrix``; the diagonal (correct
    predictions) and pairs that never occur are left out.

    Args:
        y_true: True class ids, shape (N,) or (N, 1), in ``0 .. len(class_names) - 1``.
        y_pred: Predicted class ids, same shape.
        class_names: One name per class id.
        top: How many pairs to return at most.

    Returns:
        Up to ``top`` rows (index 0, 1, ...), columns ``true`` and ``predicted`` (class
        names), ``count`` (int, images) and ``share_of_true_class`` (float in 0-1: count
        divided by the number of images of the true class). Sorted by count, largest
        first; equal counts by true class id, then predicted class id.

    Raises:
        ValueError: If the labels are invalid (see :func:`compute_per_class_metrics`) or
            ``top`` is not a positive integer.
    """
    from sklearn.metrics import confusion_matrix  # heavy import, only when used

    top = _check_positive_int("compute_confused_pairs", "top", top)
    y_true, y_pred = _check_label_pair("compute_confused_pairs", y_true, y_pred, class_names)
    matrix = confusion_matrix(y_true, y_pred, labels=np.arange(len(class_names)))
    true_ids, predicted_ids = np.nonzero(matrix)  # row-major: (true, predicted) order
    off_diagonal = true_ids != predicted_ids
    true_ids, predicted_ids = true_ids[off_diagonal], predicted_ids[off_diagonal]
    counts = matrix[true_ids, predicted_ids]
    # lexsort sorts by its last key first: count descending, then true id, then predicted.
    order = np.lexsort((predicted_ids, true_ids, -counts))[:top]
    true_ids, predicted_ids, counts = true_ids[order], predicted_ids[order], counts[order]
    class_sizes = matrix.sum(axis=1)
    return pd.DataFrame(
        {
            "true": [class_names[i] for i in true_ids],
            "predicted": [class_names[i] for i in predicted_ids],
            "count": counts.astype(np.int64),
            "share_of_true_class": (counts / class_sizes[true_ids]).astype(float),
        }
    )


def compute_confidently_wrong(
    probabilities: np.ndarray, y_true: np.ndarray, *, top: int = 16
) -> np.ndarray:
    """Indices of the wrong predictions the model was most sure of.

    Args:
        probabilities: float, shape (N, num_classes), each row a softmax output.
        y_true: True class ids, shape (N,) or (N, 1).
        top: How many indices to return at most.

    Returns:
        int64 indices into the N images, shape (min(top, number of mistakes),): images
        whose predicted class (the argmax) is wrong, sorted by the predicted class's
        probability, highest first (equal probabilities by index).

    Raises:
        ValueError: If shapes disagree, probabilities are not valid softmax rows, labels
            are out of range, or ``top`` is not a positive integer.
    """
    top = _check_positive_int("compute_confidently_wrong", "top", top)
    probabilities, y_true = _check_probabilities_and_labels(
        "compute_confidently_wrong", probabilities, y_true
    )
    predicted = probabilities.argmax(axis=1)
    wrong = np.flatnonzero(predicted != y_true)
    confidence = probabilities[wrong, predicted[wrong]]
    order = np.argsort(-confidence, kind="stable")
    return wrong[order][:top].astype(np.int64)


# --- Grad-CAM ----------------------------------------------------------------------------


def _layer_output_rank(layer: Any) -> int | None:
    try:
        return len(layer.output.shape)
    except (AttributeError, ValueError):  # a shared layer has no single output
        return None


def compute_grad_cam(
    model: Any,
    images: np.ndarray,
    *,
    class_indices: np.ndarray | Sequence[int] | None = None,
    layer_name: str | None = None,
) -> np.ndarray:
    """Grad-CAM heat maps: which parts of each image raised the score of a class.

    Grad-CAM (Selvaraju et al. 2017) takes a convolutional feature map A (h, w, c) and the
    gradient of a class score y with respect to it. Each channel gets the weight
    ``mean over h, w of dy/dA_c``; the map is ``ReLU(sum_c weight_c * A_c)``, upsampled to
    the image size (bilinear, ``tf.image.resize``) and divided by its maximum, so that
    each map lies in [0, 1] (a map that is zero everywhere stays zero).

    The score y is the class's pre-softmax score, as in the paper: the input of the
    model's final softmax layer (``"probabilities"`` in this project, whose input is the
    ``"logits"`` output times the positive ``"logit_scale"``; a positive factor does not
    change the normalised map). A model that does not end in a separate softmax
    ``Activation`` layer falls back to the log of the class's probability, which also
    subtracts the evidence for the other classes.

    All images go through the model in one batch, in inference mode (``training=False``):
    nothing mixes images, so each map depends on its own image only.

    Args:
        model: A Keras model with one input and one output, float probabilities of shape
            (N, num_classes).
        images: The model's inputs: float, shape (N, H, W, C) (normalised the way the
            model was trained, e.g. with ``data.normalize``), N >= 1.
        class_indices: The class to explain for each image, ints of shape (N,) or (N, 1);
            None explains the predicted class (the argmax of the model's output).
        layer_name: The feature map's layer; None picks the last layer whose output is
            4-D (N, h, w, c), the output of the last convolutional block.

    Returns:
        float32 heat maps, shape (N, H, W), values in [0, 1].

    Raises:
        ValueError: If ``images`` is not a non-empty 4-D float array matching the model's
            input, ``class_indices`` does not hold one class id in range per image, the
            layer does not exist or its output is not 4-D, or the model has several
            inputs or outputs.
    """
    import keras
    import tensorflow as tf

    where = "compute_grad_cam"
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise ValueError(
            f"{where}: the model must have one input and one output, got "
            f"{len(model.inputs)} inputs and {len(model.outputs)} outputs."
        )
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[0] == 0:
        raise ValueError(
            f"{where}: images must have shape (N, H, W, C) with N >= 1, got {images.shape}; "
            "for one image, pass `image[None]`."
        )
    if not np.issubdtype(images.dtype, np.floating):
        raise ValueError(
            f"{where}: images must be float (normalised as for training), got dtype "
            f"{images.dtype}; normalise them first (e.g. data.normalize)."
        )
    expected = tuple(model.inputs[0].shape[1:])
    if len(expected) != 3 or any(
        size is not None and size != got
        for size, got in zip(expected, images.shape[1:], strict=True)
    ):
        raise ValueError(
            f"{where}: the model takes images of shape (N, {', '.join(map(str, expected))}), "
            f"got {images.shape}."
        )
    num_classes = model.outputs[0].shape[-1]

    if layer_name is None:
        candidates = [
            layer
            for layer in model.layers
            if not isinstance(layer, keras.layers.InputLayer) and _layer_output_rank(layer) == 4
        ]
        if not candidates:
            raise ValueError(
                f"{where}: model {model.name!r} has no layer with a 4-D output (N, h, w, c); "
                "Grad-CAM needs a convolutional feature map."
            )
        layer = candidates[-1]
    else:
        try:
            layer = model.get_layer(layer_name)
        except ValueError:
            names = ", ".join(layer.name for layer in model.layers)
            raise ValueError(
                f"{where}: model {model.name!r} has no layer named {layer_name!r} "
                f"(its layers: {names})."
            ) from None
        rank = _layer_output_rank(layer)
        if rank != 4:
            raise ValueError(
                f"{where}: layer {layer_name!r} must output a 4-D feature map (N, h, w, c), "
                f"but its output has {rank} dimensions; pick a convolutional layer."
            )

    if class_indices is not None:
        class_indices = _check_labels(where, "class_indices", class_indices, num_classes)
        if len(class_indices) != len(images):
            raise ValueError(
                f"{where}: got {len(images)} images and {len(class_indices)} class indices; "
                "pass one class index per image (or None for the predicted classes)."
            )

    last = model.layers[-1]
    uses_logits = (
        isinstance(last, keras.layers.Activation)
        and last.activation is keras.activations.softmax
        and _layer_output_rank(last) is not None
        and last.output is model.outputs[0]
    )
    score_tensor = last.input if uses_logits else model.outputs[0]
    grad_model = keras.Model(model.inputs, [layer.output, score_tensor, model.outputs[0]])

    inputs = tf.convert_to_tensor(images, dtype=tf.float32)
    with tf.GradientTape() as tape:
        # The tape records only operations on watched tensors; watching the images makes
        # it record the whole forward pass, even through frozen or weightless layers.
        tape.watch(inputs)
        features, scores, probabilities = grad_model(inputs, training=False)
        scores = tf.cast(scores, tf.float32)
        if class_indices is None:
            chosen = tf.argmax(probabilities, axis=-1, output_type=tf.int32)
        else:
            chosen = tf.constant(class_indices, dtype=tf.int32)
        score = tf.gather(scores, chosen, axis=1, batch_dims=1)
        if not uses_logits:
            score = tf.math.log(tf.maximum(score, _SMALLEST_PROBABILITY))
        # Images do not interact in inference mode, so the gradient of the sum with
        # respect to image i's feature map is the gradient of image i's own score.
        total = tf.reduce_sum(score)
    gradients = tape.gradient(total, features)
    if gradients is None:
        raise ValueError(
            f"{where}: the model's output does not depend on layer {layer.name!r}; pick a "
            "layer on the path from the input to the output."
        )
    gradients = tf.cast(gradients, tf.float32)
    features = tf.cast(features, tf.float32)

    weights = tf.reduce_mean(gradients, axis=(1, 2), keepdims=True)  # (N, 1, 1, c)
    cams = tf.nn.relu(tf.reduce_sum(weights * features, axis=-1, keepdims=True))
    cams = tf.image.resize(cams, images.shape[1:3], method="bilinear")[..., 0]
    cams = cams.numpy().astype(np.float64)
    peaks = cams.max(axis=(1, 2), keepdims=True)
    cams = np.divide(cams, peaks, out=np.zeros_like(cams), where=peaks > 0)
    return np.clip(cams, 0.0, 1.0).astype(np.float32)


# --- Calibration -------------------------------------------------------------------------


def compute_calibration(
    probabilities: np.ndarray, y_true: np.ndarray, *, n_bins: int = 15
) -> pd.DataFrame:
    """Accuracy against confidence, in bins of equal width: the data of a reliability diagram.

    The confidence of a prediction is its largest probability. Bin m covers confidences
    in ``((m - 1) / n_bins, m / n_bins]`` (the first bin also takes 0), as in Guo et al.
    (2017). A well calibrated model is right on about 80% of the images it predicts
    with confidence 0.8: accuracy equals mean confidence in every bin.

    Args:
        probabilities: float, shape (N, num_classes), each row a softmax output.
        y_true: True class ids, shape (N,) or (N, 1).
        n_bins: Number of bins over [0, 1].

    Returns:
        ``n_bins`` rows, one per bin from low to high confidence, with columns ``lower``
        and ``upper`` (the bin's edges), ``count`` (int, predictions in the bin),
        ``confidence`` (their mean confidence) and ``accuracy`` (the share of them that
        is right); both means are NaN for an empty bin.

    Raises:
        ValueError: If shapes disagree, probabilities are not valid softmax rows, labels
            are out of range, or ``n_bins`` is not a positive integer.
    """
    n_bins = _check_positive_int("compute_calibration", "n_bins", n_bins)
    probabilities, y_true = _check_probabilities_and_labels(
        "compute_calibration", probabilities, y_true
    )
    confidence = probabilities.max(axis=1)
    correct = (probabilities.argmax(axis=1) == y_true).astype(float)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    # side="left": a confidence equal to an upper edge belongs to that bin.
    bins = np.clip(np.searchsorted(edges, confidence, side="left") - 1, 0, n_bins - 1)
    counts = np.bincount(bins, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_confidence = np.bincount(bins, weights=confidence, minlength=n_bins) / counts
        accuracy = np.bincount(bins, weights=correct, minlength=n_bins) / counts
    return pd.DataFrame(
        {
            "lower": edges[:-1],
            "upper": edges[1:],
            "count": counts.astype(np.int64),
            "confidence": np.where(counts > 0, mean_confidence, np.nan),
            "accuracy": np.where(counts > 0, accuracy, np.nan),
        },
        columns=list(CALIBRATION_COLUMNS),
    )


def compute_expected_calibration_error(
    probabilities: np.ndarray, y_true: np.ndarray, *, n_bins: int = 15
) -> float:
    """Expected calibration error (ECE, Guo et al. 2017), in 0-1.

    ``ECE = sum over bins m of (n_m / N) * |accuracy_m - confidence_m|``, with the bins
    of :func:`compute_calibration`: the average gap between how often the model is right
    and how sure it is, weighted by how many predictions fall in each bin. 0 is perfect
    calibration; 0.05 means the stated confidence is off by 5 points on average.

    Args:
        probabilities: float, shape (N, num_classes), each row a softmax output.
        y_true: True class ids, shape (N,) or (N, 1).
        n_bins: Number of confidence bins (15 in Guo et al.).

    Returns:
        The ECE as a Python float.

    Raises:
        ValueError: As :func:`compute_calibration`.
    """
    table = compute_calibration(probabilities, y_true, n_bins=n_bins)
    filled = table[table["count"] > 0]
    weights = filled["count"].to_numpy() / table["count"].sum()
    gaps = np.abs(filled["accuracy"].to_numpy() - filled["confidence"].to_numpy())
    return float(np.sum(weights * gaps))


def _scaled_log_probabilities(log_probabilities: np.ndarray, temperature: float) -> np.ndarray:
    scaled = log_probabilities / temperature
    scaled = scaled - scaled.max(axis=1, keepdims=True)
    return scaled - np.log(np.exp(scaled).sum(axis=1, keepdims=True))


def _check_temperature(where: str, temperature: Any) -> float:
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float, np.number)):
        raise ValueError(f"{where}: temperature must be a positive number, got {temperature!r}.")
    value = float(temperature)
    if not np.isfinite(value) or value <= 0:
        raise ValueError(
            f"{where}: temperature must be a positive finite number, got {temperature!r} "
            "(1 leaves the probabilities unchanged; use fit_temperature to choose it)."
        )
    return value


def fit_temperature(probabilities: np.ndarray, y_true: np.ndarray) -> float:
    """Fit the temperature T of temperature scaling (Guo et al. 2017) on validation data.

    Temperature scaling divides the log-probabilities by one number T > 0 and applies the
    softmax again (:func:`apply_temperature`): T > 1 softens over-confident predictions,
    T < 1 sharpens under-confident ones, and the predicted class never changes. T is
    chosen to minimise the mean negative log-likelihood of the true labels, with
    ``scipy.optimize.minimize_scalar`` over log T within :data:`TEMPERATURE_BOUNDS`.

    Fit it on a VALIDATION split (images the model was not trained on), never on the
    test set: the test set then measures the calibrated model fairly. On training images
    the model is over-confident in a way that does not carry over to new images.

    Args:
        probabilities: float, shape (N, num_classes), softmax outputs on validation images.
        y_true: Their true class ids, shape (N,) or (N, 1).

    Returns:
        The temperature as a Python float in :data:`TEMPERATURE_BOUNDS`.

    Raises:
        ValueError: If shapes disagree, probabilities are not valid softmax rows (NaN,
            negative, rows not summing to 1), or labels are out of range.
    """
    from scipy.optimize import minimize_scalar  # heavy import, only when used

    probabilities, y_true = _check_probabilities_and_labels(
        "fit_temperature", probabilities, y_true
    )
    log_probabilities = np.log(np.clip(probabilities, _SMALLEST_PROBABILITY, 1.0))
    rows = np.arange(len(y_true))

    def negative_log_likelihood(log_temperature: float) -> float:
        scaled = _scaled_log_probabilities(log_probabilities, np.exp(log_temperature))
        return float(-scaled[rows, y_true].mean())

    low, high = np.log(TEMPERATURE_BOUNDS)
    result = minimize_scalar(
        negative_log_likelihood,
        bounds=(low, high),
        method="bounded",
        options={"xatol": 1e-6},
    )
    return float(np.exp(result.x))


def apply_temperature(probabilities: np.ndarray, temperature: float) -> np.ndarray:
    """Rescale softmax probabilities with a temperature: ``softmax(log(p) / T)``.

    Probabilities are clipped to the smallest positive float32 before the log, so exact
    zeros are allowed. ``T = 1`` returns the probabilities unchanged (up to rounding);
    the largest probability of each row stays the largest.

    Args:
        probabilities: float, shape (N, num_classes), each row a softmax output.
        temperature: T > 0, for example from :func:`fit_temperature`.

    Returns:
        float32 probabilities, shape (N, num_classes), each row summing to 1.

    Raises:
        ValueError: If the probabilities are not valid softmax rows or ``temperature`` is
            not a positive finite number.
    """
    temperature = _check_temperature("apply_temperature", temperature)
    probabilities = _check_probabilities("apply_temperature", probabilities)
    log_probabilities = np.log(np.clip(probabilities, _SMALLEST_PROBABILITY, 1.0))
    scaled = np.exp(_scaled_log_probabilities(log_probabilities, temperature))
    scaled /= scaled.sum(axis=1, keepdims=True)
    return scaled.astype(np.float32)
