"""Tests of cifar_utils.optimizers: Muon's orthogonalisation, its two update rules
(checked against the formulas by hand), training, XLA, serialisation and bad arguments."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from cifar_utils import models, optimizers


def _singular_values(matrix) -> np.ndarray:
    return np.linalg.svd(np.asarray(matrix, dtype=np.float64), compute_uv=False)


@pytest.mark.parametrize("shape", [(8, 40), (40, 8), (16, 16)])
def test_orthogonalize_brings_singular_values_near_one(shape):
    rng = np.random.default_rng(0)
    # Singular values spread over three orders of magnitude before...
    u, _ = np.linalg.qr(rng.normal(size=(shape[0], shape[0])))
    v, _ = np.linalg.qr(rng.normal(size=(shape[1], shape[1])))
    k = min(shape)
    s = np.zeros(shape)
    s[:k, :k] = np.diag(np.logspace(-3, 0, k))
    matrix = (u @ s @ v.T).astype(np.float32)
    result = keras.ops.convert_to_numpy(
        optimizers.orthogonalize(keras.ops.convert_to_tensor(matrix))
    )
    assert result.shape == shape
    values = _singular_values(result)
    # ...and within Muon's band (about 0.5-1.5; the smallest ones, 1e-3 before, rise least).
    assert values.max() < 1.6
    assert np.median(values) > 0.5
    # The singular vectors are kept: in the input's singular bases the result is diagonal.
    in_bases = u.T @ result @ v
    off_diagonal = in_bases.copy()
    off_diagonal[np.arange(k), np.arange(k)] = 0
    assert np.abs(off_diagonal).max() < 1e-3
    assert (np.diag(in_bases[:k, :k]) > 0).all()  # and no direction is reversed


def test_orthogonalize_rejects_other_ranks():
    with pytest.raises(ValueError, match="2-D"):
        optimizers.orthogonalize(keras.ops.zeros((2, 2, 2)))


def _apply(optimizer, variable, gradient):
    optimizer.apply_gradients([(keras.ops.convert_to_tensor(gradient), variable)])
    return keras.ops.convert_to_numpy(variable)


def test_sgd_part_follows_nesterov_with_coupled_l2_by_hand():
    bias = keras.Variable(np.array([1.0, -2.0], np.float32))
    head = keras.Variable(np.ones((2, 3), np.float32))
    optimizer = optimizers.Muon(
        0.5,
        bias_learning_rate=0.1,
        head_learning_rate=0.2,
        sgd_momentum=0.5,
        sgd_weight_decay=0.01,
    )
    g_bias = np.array([0.3, 0.1], np.float32)
    g_head = np.full((2, 3), -0.2, np.float32)
    optimizer.apply_gradients(
        [(keras.ops.convert_to_tensor(g_bias), bias), (keras.ops.convert_to_tensor(g_head), head)]
    )
    for start, grad, rate in ((np.array([1.0, -2.0]), g_bias, 0.1), (np.ones((2, 3)), g_head, 0.2)):
        effective = grad + (0.01 / rate) * start  # L2 term through the momentum
        buffer = effective  # first step: 0.5 * 0 + g
        expected = start - rate * (effective + 0.5 * buffer)
        actual = bias if start.ndim == 1 else head
        np.testing.assert_allclose(keras.ops.convert_to_numpy(actual), expected, rtol=1e-6)


def test_kernel_step_renormalises_and_moves_by_an_orthogonal_update():
    rng = np.random.default_rng(1)
    start = rng.normal(size=(3, 3, 4, 6)).astype(np.float32) * 5
    gradient = rng.normal(size=start.shape).astype(np.float32)
    kernel = keras.Variable(start)
    optimizer = optimizers.Muon(0.1, momentum=0.6)
    after = _apply(optimizer, kernel, gradient)
    # By hand: rescale to norm sqrt(filters), then subtract lr * orthogonalised (g + 0.6 g).
    rescaled = start * (np.sqrt(6) / np.linalg.norm(start))
    direction = (gradient + 0.6 * gradient).reshape(-1, 6)
    update = keras.ops.convert_to_numpy(
        optimizers.orthogonalize(keras.ops.convert_to_tensor(direction))
    )
    np.testing.assert_allclose(after, rescaled - 0.1 * update.reshape(start.shape), atol=1e-5)
    # With a zero learning rate, only the renormalisation is left.
    kernel2 = keras.Variable(start)
    after2 = _apply(optimizers.Muon(1e-30), kernel2, gradient)
    assert np.linalg.norm(after2) == pytest.approx(np.sqrt(6), rel=1e-5)


def test_momentum_carries_over_several_steps_by_hand():
    """Three steps of both rules, replayed in NumPy: the momentum buffers accumulate
    (a first step alone cannot tell a buffer from a fresh gradient)."""
    rng = np.random.default_rng(2)
    kernel_start = rng.normal(size=(3, 3, 2, 4)).astype(np.float32)
    kernel = keras.Variable(kernel_start)
    bias = keras.Variable(np.array([0.5, -0.5], np.float32))
    optimizer = optimizers.Muon(
        0.05, momentum=0.6, bias_learning_rate=0.1, sgd_momentum=0.85, sgd_weight_decay=0.0
    )
    kernel_grads = [rng.normal(size=kernel_start.shape).astype(np.float32) for _ in range(3)]
    bias_grads = [rng.normal(size=2).astype(np.float32) for _ in range(3)]
    k, k_buffer = kernel_start.astype(np.float64), np.zeros(kernel_start.shape)
    b, b_buffer = np.array([0.5, -0.5]), np.zeros(2)
    for g_kernel, g_bias in zip(kernel_grads, bias_grads, strict=True):
        optimizer.apply_gradients(
            [
                (keras.ops.convert_to_tensor(g_kernel), kernel),
                (keras.ops.convert_to_tensor(g_bias), bias),
            ]
        )
        k_buffer = 0.6 * k_buffer + g_kernel
        direction = (g_kernel + 0.6 * k_buffer).reshape(-1, 4).astype(np.float32)
        update = keras.ops.convert_to_numpy(
            optimizers.orthogonalize(keras.ops.convert_to_tensor(direction))
        )
        k = k * (2.0 / np.linalg.norm(k)) - 0.05 * update.reshape(k.shape)  # sqrt(4) = 2
        b_buffer = 0.85 * b_buffer + g_bias
        b = b - 0.1 * (g_bias + 0.85 * b_buffer)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(kernel), k, atol=2e-5)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(bias), b, rtol=1e-5)


def test_a_model_compiled_with_muon_saves_and_resumes_with_its_state(tmp_path):
    from cifar_utils import training

    rng = np.random.default_rng(3)
    images = rng.normal(size=(32, 32, 32, 3)).astype(np.float32)
    labels = keras.ops.one_hot(rng.integers(0, 3, size=32), 3)

    def compiled():
        keras.utils.set_random_seed(0)
        model = models.build_resnet(widths=(8, 8), num_classes=3, bias_multiplier=1.0)
        model.compile(
            optimizer=optimizers.Muon(0.05, bias_learning_rate=0.3, head_learning_rate=0.3),
            loss="categorical_crossentropy",
        )
        return model

    model = compiled()
    model.fit(images, labels, batch_size=16, epochs=1, shuffle=False, verbose=0)
    loaded = keras.models.load_model(training.save_model(model, tmp_path / "muon.keras"))
    assert isinstance(loaded.optimizer, optimizers.Muon)
    assert loaded.optimizer.get_config() == model.optimizer.get_config()
    assert int(loaded.optimizer.iterations) == 2
    for got, want in zip(loaded.optimizer.variables, model.optimizer.variables, strict=True):
        np.testing.assert_array_equal(
            keras.ops.convert_to_numpy(got), keras.ops.convert_to_numpy(want)
        )
    # One more epoch from the file equals one more epoch in memory (momentum included).
    model.fit(images, labels, batch_size=16, epochs=1, shuffle=False, verbose=0)
    loaded.fit(images, labels, batch_size=16, epochs=1, shuffle=False, verbose=0)
    for got, want in zip(loaded.weights, model.weights, strict=True):
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-5, atol=1e-6)


def test_sgd_learning_rates_follow_the_schedule_shape():
    schedule = keras.optimizers.schedules.PolynomialDecay(0.2, decay_steps=4, end_learning_rate=0.0)
    bias = keras.Variable(np.zeros(1, np.float32))
    optimizer = optimizers.Muon(schedule, bias_learning_rate=1.0, sgd_momentum=0.0)
    moves = []
    for _ in range(4):
        before = float(keras.ops.convert_to_numpy(bias)[0])
        after = float(_apply(optimizer, bias, np.ones(1, np.float32))[0])
        moves.append(before - after)
    # Peak 1.0 at step 0, then 0.75, 0.5, 0.25 of it: the kernels' schedule, scaled.
    np.testing.assert_allclose(moves, [1.0, 0.75, 0.5, 0.25], rtol=1e-6)


@pytest.mark.slow
@pytest.mark.parametrize("jit_compile", [False, True])
def test_muon_trains_the_resnet(jit_compile):
    rng = np.random.default_rng(0)
    images = rng.normal(size=(64, 32, 32, 3)).astype(np.float32)
    labels = keras.ops.one_hot(rng.integers(0, 3, size=64), 3)
    keras.utils.set_random_seed(0)
    model = models.build_resnet(widths=(8, 8), num_classes=3, bias_multiplier=1.0)
    model.compile(
        optimizer=optimizers.Muon(
            0.05, bias_learning_rate=0.5, head_learning_rate=0.5, sgd_weight_decay=1e-4
        ),
        loss="categorical_crossentropy",
        jit_compile=jit_compile,
    )
    kernel = model.get_layer("stage1_conv").kernel
    initial_norm = np.linalg.norm(keras.ops.convert_to_numpy(kernel))
    first = model.evaluate(images, labels, verbose=0)
    model.fit(images, labels, batch_size=32, epochs=15, verbose=0)
    last = model.evaluate(images, labels, verbose=0)
    assert last < 0.7 * first  # it memorises random labels: the updates go downhill
    # Rescaled to sqrt(filters) before every step, then one orthogonalised step (singular
    # values about 1, so a norm of about 0.05 * sqrt(8)) since: close to sqrt(8), unlike
    # the Glorot initialisation.
    step = 0.05 * np.sqrt(8)
    norm = np.linalg.norm(keras.ops.convert_to_numpy(kernel))
    assert abs(norm - np.sqrt(8)) <= 1.5 * step
    assert abs(initial_norm - np.sqrt(8)) > 1.5 * step, "the check must tell the two apart"


def test_config_round_trip():
    schedule = keras.optimizers.schedules.PolynomialDecay(
        0.24, decay_steps=10, end_learning_rate=0.0
    )
    optimizer = optimizers.Muon(
        schedule, bias_learning_rate=53.0, head_learning_rate=3.3, sgd_weight_decay=0.002
    )
    clone = optimizers.Muon.from_config(optimizer.get_config())
    assert clone.bias_learning_rate == 53.0
    assert clone.head_learning_rate == 3.3
    assert clone.sgd_weight_decay == 0.002
    assert clone.momentum == 0.6 and clone.sgd_momentum == 0.85 and clone.ns_steps == 3


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(learning_rate=-1.0), "learning_rate"),
        (dict(learning_rate=0.0), "learning_rate"),
        (dict(momentum=1.0), "momentum"),
        (dict(sgd_momentum=-0.1), "sgd_momentum"),
        (dict(bias_learning_rate=-1.0), "bias_learning_rate"),
        (dict(head_learning_rate="fast"), "head_learning_rate"),
        (dict(sgd_weight_decay=-1e-3), "sgd_weight_decay"),
        (dict(ns_steps=0), "ns_steps"),
        (dict(weight_decay=0.01), "sgd_weight_decay"),
    ],
)
def test_bad_arguments_say_what_is_wrong(kwargs, match):
    with pytest.raises(ValueError, match=match):
        optimizers.Muon(**kwargs)
