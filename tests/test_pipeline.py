"""Tests of the input pipelines of cifar_utils.data: normalize, make_dataset and its
per-example augmentation (random crop of the zero-padded image, random mirror).

The images are synthetic and "coded": every pixel says where it came from (its row, its
column and the index of its image), so an augmented image can be traced back to the
exact crop and mirror that made it.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import pytest
import tensorflow as tf

from cifar_utils import data

MEAN = np.asarray(data.CHANNEL_MEAN, dtype=np.float32)
STD = np.asarray(data.CHANNEL_STD, dtype=np.float32)
CODES_PER_BAND = 250  # channel 2 holds index % 250 + 1; channel 0 holds the band index // 250


def _coded_images(count: int) -> tuple[np.ndarray, np.ndarray]:
    """uint8 images (count, 32, 32, 3) whose pixels name their row, column and image.

    Channel 0 is ``row + 1 + 32 * (index // 250)``, channel 1 is ``column + 1``, channel 2
    is ``index % 250 + 1``: never 0, so zero padding is told apart from the image. Labels
    are ``index % 10``.
    """
    if count > 7 * CODES_PER_BAND:
        raise ValueError("at most 1750 coded images")
    index = np.arange(count)
    rows, cols = np.meshgrid(np.arange(32), np.arange(32), indexing="ij")
    x = np.empty((count, 32, 32, 3), dtype=np.uint8)
    x[..., 0] = rows + 1 + 32 * (index // CODES_PER_BAND)[:, None, None]
    x[..., 1] = cols + 1
    x[..., 2] = (index % CODES_PER_BAND + 1)[:, None, None]
    return x, index % 10


def _denormalize(images: np.ndarray) -> np.ndarray:
    """Undo `normalize`: back to integer pixel values (checked to be integers)."""
    pixels = (images.astype(np.float64) * STD + MEAN) * 255
    rounded = np.round(pixels)
    np.testing.assert_allclose(pixels, rounded, atol=1e-3, err_msg="not normalised pixels")
    return rounded.astype(np.int64)


def _crop(image: np.ndarray, top: int, left: int, flip: bool, pad: int) -> np.ndarray:
    """The (32, 32) crop at (top, left) of `image` zero-padded by `pad`, maybe mirrored."""
    padded = np.pad(image, ((pad, pad), (pad, pad), (0, 0)))
    crop = padded[top : top + 32, left : left + 32]
    return crop[:, ::-1] if flip else crop


class Traced(NamedTuple):
    index: int
    top: int
    left: int
    flip: bool


def _trace(output: np.ndarray, x: np.ndarray, pad: int) -> Traced:
    """Find which image, crop and mirror made `output`, and check it is exactly that."""
    pixels = _denormalize(output)
    centre = pixels[16, 16]  # inside the image for any shift of up to 16 pixels
    band, row = divmod(int(centre[0]) - 1, 32)
    column = int(centre[1]) - 1
    index = int(centre[2]) - 1 + CODES_PER_BAND * band
    flip = bool(pixels[16, 17, 1] < pixels[16, 16, 1])
    top = row - 16 + pad
    left = column - (15 if flip else 16) + pad
    assert 0 <= index < len(x)
    assert 0 <= top <= 2 * pad and 0 <= left <= 2 * pad, f"shift beyond pad: {top, left}"
    expected = _crop(x[index], top, left, flip, pad)
    np.testing.assert_array_equal(pixels, expected, err_msg=f"not a crop of image {index}")
    np.testing.assert_array_equal(output, data.normalize(expected))
    return Traced(index, top, left, flip)


def _batches(dataset: Any) -> list[tuple[np.ndarray, np.ndarray]]:
    return [(images.numpy(), labels.numpy()) for images, labels in dataset]


def _indices(dataset: Any, x: np.ndarray) -> list[int]:
    """Indices of the (un-augmented) images a dataset yields, in order."""
    return [_trace(image, x, pad=0).index for images, _ in _batches(dataset) for image in images]


# normalize --------------------------------------------------------------------------------


def test_normalize_formula_on_numpy_and_tensors():
    values = np.arange(256, dtype=np.uint8)
    images = np.stack([np.roll(values, shift) for shift in range(0, 96, 32)], axis=-1)
    images = images.reshape(8, 32, 1, 3).repeat(32, axis=2)  # (8, 32, 32, 3): all 256 values

    from_numpy = data.normalize(images)
    from_tensor = data.normalize(tf.constant(images))

    assert isinstance(from_numpy, np.ndarray)
    assert isinstance(from_tensor, tf.Tensor)
    assert from_numpy.dtype == np.float32
    assert from_tensor.dtype == tf.float32
    assert from_numpy.shape == images.shape
    np.testing.assert_array_equal(from_tensor.numpy(), from_numpy)
    expected = (images.astype(np.float32) / np.float32(255) - MEAN) / STD
    np.testing.assert_array_equal(from_numpy, expected)
    reference = (images / 255 - np.asarray(data.CHANNEL_MEAN)) / np.asarray(data.CHANNEL_STD)
    np.testing.assert_allclose(from_numpy, reference, rtol=1e-6, atol=1e-6)


def test_normalize_accepts_floats_lists_and_single_images():
    image = np.random.default_rng(0).integers(0, 256, size=(32, 32, 3)).astype(np.uint8)
    expected = data.normalize(image)
    assert expected.shape == (32, 32, 3)
    np.testing.assert_array_equal(data.normalize(image.astype(np.float64)), expected)
    np.testing.assert_array_equal(data.normalize(image.tolist()), expected)
    np.testing.assert_array_equal(data.normalize(tf.constant(image, tf.float32)), expected)


def test_normalize_uses_the_training_statistics():
    # A pixel at the channel mean becomes 0; one a standard deviation above, 1.
    pixel = np.asarray([MEAN * 255, (MEAN + STD) * 255])
    np.testing.assert_allclose(data.normalize(pixel), [[0, 0, 0], [1, 1, 1]], atol=1e-5)
    assert data.CHANNEL_MEAN == pytest.approx((0.4914, 0.4822, 0.4465))
    assert data.CHANNEL_STD == pytest.approx((0.2470, 0.2435, 0.2616))


@pytest.mark.parametrize(
    "images",
    [
        np.zeros((2, 32, 32, 4), dtype=np.uint8),
        np.zeros((2, 32, 32), dtype=np.uint8),
        np.zeros((32, 32, 1), dtype=np.uint8),
        np.uint8(7),
        5.0,
        tf.zeros((2, 32, 32, 1)),
        tf.zeros((2, 3, 32, 32)),
    ],
    ids=[
        "4-channels",
        "grey",
        "1-channel",
        "np-scalar",
        "float",
        "tensor-1-channel",
        "tensor-NCHW",
    ],
)
def test_normalize_rejects_images_without_three_channels_last(images):
    with pytest.raises(ValueError, match="3 channels last"):
        data.normalize(images)


# make_dataset: evaluation -------------------------------------------------------------------


def test_eval_dataset_yields_every_example_in_order():
    x, y = _coded_images(10)
    dataset = data.make_dataset(x, y, batch_size=4)

    batches = _batches(dataset)

    assert [len(images) for images, _ in batches] == [4, 4, 2]
    images = np.concatenate([images for images, _ in batches])
    labels = np.concatenate([labels for _, labels in batches])
    assert images.dtype == np.float32
    assert labels.dtype == np.int32
    np.testing.assert_array_equal(images, data.normalize(x))
    np.testing.assert_array_equal(labels, y)
    assert dataset.element_spec[0].shape.as_list() == [None, 32, 32, 3]
    # Evaluation is repeatable: a second pass gives the same batches.
    for (first, _), (second, _) in zip(batches, _batches(dataset), strict=True):
        np.testing.assert_array_equal(first, second)


def test_labels_of_shape_n_by_1_are_flattened():
    x, y = _coded_images(6)
    (_, labels), (_, rest) = _batches(data.make_dataset(x, y[:, None], batch_size=3))
    np.testing.assert_array_equal(np.concatenate([labels, rest]), y)
    assert labels.shape == (3,)


def test_one_hot_labels():
    x, y = _coded_images(7)
    batches = _batches(data.make_dataset(x, y, batch_size=5, one_hot=True))
    labels = np.concatenate([labels for _, labels in batches])
    assert labels.dtype == np.float32
    assert labels.shape == (7, 10)
    np.testing.assert_array_equal(labels, np.eye(10, dtype=np.float32)[y])


# make_dataset: training -----------------------------------------------------------------------


def test_training_drops_the_last_partial_batch():
    x, y = _coded_images(10)
    dataset = data.make_dataset(x, y, batch_size=4, training=True, augment=False)
    batches = _batches(dataset)
    assert [len(images) for images, _ in batches] == [4, 4]
    indices = _indices(dataset, x)
    assert len(set(indices)) == 8


def test_training_shuffles_reproducibly_and_reshuffles_every_epoch():
    x, y = _coded_images(64)

    def make(seed: int) -> Any:
        return data.make_dataset(x, y, batch_size=16, training=True, augment=False, seed=seed)

    dataset = make(0)
    first_epoch = _indices(dataset, x)
    second_epoch = _indices(dataset, x)

    assert sorted(first_epoch) == list(range(64)), "every image once per epoch"
    assert sorted(second_epoch) == list(range(64))
    assert first_epoch != list(range(64)), "training data must be shuffled"
    assert second_epoch != first_epoch, "and shuffled again every epoch"
    assert _indices(make(0), x) == first_epoch, "the same seed gives the same order"
    assert _indices(make(1), x) != first_epoch, "another seed gives another order"


def test_training_without_augmentation_keeps_images_and_labels_together():
    x, y = _coded_images(40)
    dataset = data.make_dataset(x, y, batch_size=8, training=True, augment=False, seed=3)
    for images, labels in _batches(dataset):
        for image, label in zip(images, labels, strict=True):
            traced = _trace(image, x, pad=0)  # exactly the normalised original
            assert (traced.top, traced.left, traced.flip) == (0, 0, False)
            assert label == y[traced.index]


# Augmentation ------------------------------------------------------------------------------


@pytest.mark.parametrize("training", [True, False])
def test_augmentation_is_a_per_example_crop_and_mirror(training):
    pad = 4
    x, y = _coded_images(512)
    dataset = data.make_dataset(
        x, y, batch_size=256, training=training, augment=True, pad=pad, seed=7
    )

    batches = _batches(dataset)
    traced = [
        [_trace(image, x, pad) for image in images] for images, _ in batches
    ]  # raises unless every image is exactly a crop of its padded original, or its mirror

    assert [len(batch) for batch in traced] == [256, 256]
    every = [t for batch in traced for t in batch]
    for (_, labels), batch in zip(batches, traced, strict=True):
        np.testing.assert_array_equal(labels, y[[t.index for t in batch]])
        # Per example: many different crops within one batch (RandomCrop has one per batch).
        assert len({(t.top, t.left) for t in batch}) > 30
        assert {t.flip for t in batch} == {True, False}
    if training:
        assert sorted(t.index for t in every) == list(range(512))
    else:
        assert [t.index for t in every] == list(range(512))
    # Shifts of up to `pad` pixels each way, all of them used; about half mirrored.
    assert {t.top for t in every} == set(range(2 * pad + 1))
    assert {t.left for t in every} == set(range(2 * pad + 1))
    assert 0.4 < np.mean([t.flip for t in every]) < 0.6
    # The two batches do not repeat the same crops position by position.
    first, second = ([(t.top, t.left, t.flip) for t in batch] for batch in traced)
    assert first != second


def test_augmentation_with_pad_0_only_mirrors():
    x, y = _coded_images(64)
    dataset = data.make_dataset(x, y, batch_size=64, augment=True, pad=0)
    traced = [_trace(image, x, pad=0) for image in _batches(dataset)[0][0]]
    assert {(t.top, t.left) for t in traced} == {(0, 0)}
    assert {t.flip for t in traced} == {True, False}


def test_augmentation_is_reproducible_for_a_seed():
    x, y = _coded_images(32)

    def images(seed: int) -> np.ndarray:
        dataset = data.make_dataset(x, y, batch_size=32, training=True, seed=seed)
        return _batches(dataset)[0][0]

    np.testing.assert_array_equal(images(5), images(5))
    assert not np.array_equal(images(5), images(6))


def test_training_augments_by_default_and_eval_does_not():
    x, y = _coded_images(64)
    train = _batches(data.make_dataset(x, y, batch_size=64, training=True))[0][0]
    traced = [_trace(image, x, pad=4) for image in train]
    assert any((t.top, t.left, t.flip) != (4, 4, False) for t in traced)
    evaluation = _batches(data.make_dataset(x, y, batch_size=64))[0][0]
    np.testing.assert_array_equal(evaluation, data.normalize(x))


def _epochs_of(dataset: Any, x: np.ndarray, steps: int, pad: int) -> list[list[Traced]]:
    """The traced images of a multi-epoch dataset, grouped by epoch."""
    traced = [_trace(image, x, pad) for images, _ in _batches(dataset) for image in images]
    per_epoch = steps * len(_batches(dataset)[0][0])
    return [traced[i : i + per_epoch] for i in range(0, len(traced), per_epoch)]


def test_dataset_spanning_epochs_reshuffles_and_reaugments_every_epoch():
    x, y = _coded_images(64)
    dataset = data.make_dataset(x, y, batch_size=16, training=True, epochs=3, seed=2)
    assert len(dataset) == 3 * 4
    epochs = _epochs_of(dataset, x, steps=4, pad=4)
    assert len(epochs) == 3
    for epoch in epochs:
        assert sorted(t.index for t in epoch) == list(range(64)), "every image once per epoch"
    orders = [[t.index for t in epoch] for epoch in epochs]
    assert len({tuple(order) for order in orders}) == 3, "three different orders"
    views = [{t.index: (t.top, t.left, t.flip) for t in epoch} for epoch in epochs]
    assert views[0] != views[1], "new shifts and flips every epoch"


def test_alternating_flip_mirrors_each_image_in_every_other_epoch():
    x, y = _coded_images(256)
    dataset = data.make_dataset(
        x, y, batch_size=32, training=True, epochs=4, flip="alternating", seed=5
    )
    epochs = _epochs_of(dataset, x, steps=8, pad=4)
    flips = [{t.index: t.flip for t in epoch} for epoch in epochs]
    assert 0.4 < np.mean(list(flips[0].values())) < 0.6, "about half mirrored"
    for index in range(256):
        assert flips[1][index] != flips[0][index], "the other way in the next epoch"
        assert flips[2][index] == flips[0][index] and flips[3][index] == flips[1][index]
    # The shifts stay random; a different seed picks a different half.
    assert len({(t.top, t.left) for t in epochs[0]}) > 40
    other = data.make_dataset(x, y, batch_size=32, training=True, flip="alternating", seed=6)
    other_flips = {t.index: t.flip for t in _epochs_of(other, x, steps=8, pad=4)[0]}
    assert other_flips != flips[0]


def test_alternating_flip_resumes_at_first_epoch():
    x, y = _coded_images(64)

    def flips(epochs: int, first_epoch: int) -> list[dict[int, bool]]:
        dataset = data.make_dataset(
            x,
            y,
            batch_size=16,
            training=True,
            flip="alternating",
            epochs=epochs,
            first_epoch=first_epoch,
            seed=1,
        )
        return [{t.index: t.flip for t in e} for e in _epochs_of(dataset, x, steps=4, pad=4)]

    whole = flips(4, 0)
    resumed = flips(4, 3)
    assert len(resumed) == 1, "only the epochs left"
    assert resumed[0] == whole[3], "epoch 3's flips, as in the uninterrupted run"


# Bad inputs ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"x": np.zeros((4, 32, 32), dtype=np.uint8)}, "x must be images"),
        ({"x": np.zeros((4, 32, 32, 1), dtype=np.uint8)}, "x must be images"),
        ({"x": np.zeros((32, 32, 3), dtype=np.uint8)}, "x must be images"),
        ({"y": np.zeros(3, dtype=int)}, "one label per image"),
        ({"y": np.zeros((4, 2), dtype=int)}, "one label per image"),
        ({"y": np.zeros((4, 1, 1), dtype=int)}, "one label per image"),
        ({"batch_size": 0}, "batch_size must be a positive integer"),
        ({"batch_size": -2}, "batch_size must be a positive integer"),
        ({"batch_size": True}, "batch_size must be a positive integer"),
        ({"batch_size": 2.0}, "batch_size must be a positive integer"),
        ({"batch_size": 5, "training": True}, "only 4 training images"),
        ({"pad": -1}, "pad must be a non-negative integer"),
        ({"pad": True}, "pad must be a non-negative integer"),
        ({"pad": 1.5}, "pad must be a non-negative integer"),
        ({"x": np.zeros((4, 32, 32, 3), dtype=np.float32)}, "x must be uint8"),
        ({"y": np.array([0, 1, 10, 2])}, "labels 0-9"),
        ({"y": np.array([0, -1, 1, 2])}, "labels 0-9"),
        ({"y": np.array([0.0, 1.0, 1.0, 2.0])}, "labels 0-9"),
        ({"flip": "sometimes", "training": True}, 'flip must be "random" or "alternating"'),
        ({"flip": "alternating"}, "apply to training datasets"),
        ({"epochs": 2}, "apply to training datasets"),
        ({"epochs": 0, "training": True}, "epochs must be an integer >= 1"),
        ({"epochs": 2.0, "training": True}, "epochs must be an integer >= 1"),
        ({"first_epoch": -1, "training": True}, "first_epoch must be an integer >= 0"),
        ({"epochs": 3, "first_epoch": 3, "training": True}, "leaves no epoch to train"),
    ],
)
def test_make_dataset_rejects_bad_inputs(change, match):
    arguments: dict[str, Any] = {
        "x": np.zeros((4, 32, 32, 3), dtype=np.uint8),
        "y": np.zeros(4, dtype=int),
        "batch_size": 2,
    }
    arguments.update(change)
    x, y = arguments.pop("x"), arguments.pop("y")
    with pytest.raises(ValueError, match=match):
        data.make_dataset(x, y, **arguments)


def test_evaluation_may_have_fewer_images_than_a_batch():
    x, y = _coded_images(3)
    ((images, labels),) = _batches(data.make_dataset(x, y, batch_size=256))
    assert images.shape == (3, 32, 32, 3)
    np.testing.assert_array_equal(labels, y)
