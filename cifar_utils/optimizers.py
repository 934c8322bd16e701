"""The Muon optimiser of Keller Jordan's fastest CIFAR-10 recipe (airbench94_muon), for Keras.

Keras 3 ships a ``keras.optimizers.Muon``, but it only orthogonalises 2-D weights and hands
every convolution kernel to AdamW, so it cannot run the recipe: there, Muon updates exactly
the convolution kernels. :class:`Muon` here does that, and trains every other weight (batch-
norm biases, the classifier) with SGD and Nesterov momentum, as airbench94_muon does.

Introduced by ``06_speedrun``. Importing this module imports Keras but changes no setting.
"""

from __future__ import annotations

import numbers
from typing import Any

import keras
from keras import ops

NEWTON_SCHULZ_COEFFICIENTS = (3.4445, -4.7750, 2.0315)
"""Coefficients of the quintic Newton-Schulz iteration (Keller Jordan's Muon)."""


def orthogonalize(matrix: Any, *, steps: int = 3, eps: float = 1e-7) -> Any:
    """Approximately replace a matrix's singular values by 1 (its "zeroth power").

    A few steps of a quintic Newton-Schulz iteration turn ``U S V^T`` into roughly
    ``U V^T`` (the singular values land between about 0.5 and 1.5, which trains as well
    as exactly 1), using only matrix products.

    Args:
        matrix: A 2-D tensor.
        steps: Iterations; Muon uses 3.
        eps: Guards the division by the norm for an all-zero matrix.

    Returns:
        A tensor of the same shape and dtype.
    """
    if len(matrix.shape) != 2:
        raise ValueError(f"orthogonalize needs a 2-D matrix, got shape {tuple(matrix.shape)}.")
    a, b, c = NEWTON_SCHULZ_COEFFICIENTS
    x = matrix / (ops.sqrt(ops.sum(ops.square(matrix))) + eps)  # singular values <= 1
    tall = matrix.shape[0] > matrix.shape[1]
    if tall:  # iterate on the smaller Gram matrix
        x = ops.transpose(x)
    for _ in range(steps):
        gram = ops.matmul(x, ops.transpose(x))
        x = a * x + ops.matmul(b * gram + c * ops.matmul(gram, gram), x)
    return ops.transpose(x) if tall else x


def _check_rate(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not value >= 0:
        raise ValueError(f"{name} must be a non-negative number, got {value!r}.")
    return float(value)


def _check_momentum(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 <= value < 1:
        raise ValueError(f"{name} must be a number in [0, 1), got {value!r}.")
    return float(value)


@keras.saving.register_keras_serializable(package="cifar_utils")
class Muon(keras.optimizers.Optimizer):
    """Muon for convolution kernels, SGD with Nesterov momentum for the other weights.

    **Convolution kernels** (4-D weights): the Nesterov-momentum gradient is reshaped to a
    matrix (one row per output filter) and orthogonalised (:func:`orthogonalize`), so that
    every direction of the filter bank moves by the same amount, however small its
    gradient; the kernel is rescaled to a fixed norm (``sqrt(filters)``) before each step,
    which takes the place of weight decay. Step: ``learning_rate``.

    **Biases** (1-D weights) and the **classifier** (2-D weights): SGD with Nesterov
    momentum ``sgd_momentum`` and an L2 penalty that goes through the momentum (as
    PyTorch's ``weight_decay``). Their learning rates, ``bias_learning_rate`` and
    ``head_learning_rate``, are peak values that follow the shape of the ``learning_rate``
    schedule. ``sgd_weight_decay`` is the share by which these weights shrink per step at
    the peak learning rate (airbench94_muon: 2e-6 per image of the batch).

    Args:
        learning_rate: Muon's step for the kernels: a float or a
            ``keras.optimizers.schedules.LearningRateSchedule`` (airbench94_muon: 0.24,
            decaying linearly to 0).
        momentum: Nesterov momentum of the kernels' gradients (airbench94_muon: 0.6).
        bias_learning_rate: Peak SGD learning rate of 1-D weights.
        head_learning_rate: Peak SGD learning rate of 2-D weights (dense layers).
        sgd_momentum: Nesterov momentum of the SGD part.
        sgd_weight_decay: Per-step shrink of the SGD part's weights at the peak rate.
        ns_steps: Newton-Schulz iterations.
        name: Optimiser name.
        **kwargs: Passed to :class:`keras.optimizers.Optimizer` (for example
            ``gradient_accumulation_steps``); ``weight_decay`` is refused: see
            ``sgd_weight_decay``.
    """

    def __init__(
        self,
        learning_rate: Any = 0.24,
        *,
        momentum: float = 0.6,
        bias_learning_rate: float = 0.0,
        head_learning_rate: float = 0.0,
        sgd_momentum: float = 0.85,
        sgd_weight_decay: float = 0.0,
        ns_steps: int = 3,
        name: str = "muon",
        **kwargs: Any,
    ) -> None:
        if kwargs.get("weight_decay") is not None:
            raise ValueError(
                "Muon keeps the kernels' norm fixed instead of decaying them; pass "
                "sgd_weight_decay for the biases and the classifier, not weight_decay."
            )
        kwargs.pop("weight_decay", None)
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        if isinstance(learning_rate, keras.optimizers.schedules.LearningRateSchedule):
            peak = float(learning_rate(0))
        else:
            peak = _check_rate("learning_rate", learning_rate)
        if not peak > 0:
            raise ValueError(f"learning_rate must start above 0, got {peak!r}.")
        self.momentum = _check_momentum("momentum", momentum)
        self.bias_learning_rate = _check_rate("bias_learning_rate", bias_learning_rate)
        self.head_learning_rate = _check_rate("head_learning_rate", head_learning_rate)
        self.sgd_momentum = _check_momentum("sgd_momentum", sgd_momentum)
        self.sgd_weight_decay = _check_rate("sgd_weight_decay", sgd_weight_decay)
        if isinstance(ns_steps, bool) or not isinstance(ns_steps, int) or ns_steps < 1:
            raise ValueError(f"ns_steps must be a positive integer, got {ns_steps!r}.")
        self.ns_steps = ns_steps
        self._peak = peak

    def build(self, variables: list[Any]) -> None:
        if self.built:
            return
        super().build(variables)
        self.momentums = self.add_optimizer_variables(variables, "momentum")

    def update_step(self, gradient: Any, variable: Any, learning_rate: Any) -> None:
        dtype = variable.dtype
        learning_rate = ops.cast(learning_rate, dtype)
        gradient = ops.cast(gradient, dtype)
        buffer = self.momentums[self._get_variable_index(variable)]
        shape = tuple(variable.shape)
        if len(shape) == 4:  # a convolution kernel: (height, width, in, filters)
            self.assign(buffer, buffer * self.momentum + gradient)
            direction = gradient + self.momentum * buffer
            filters = shape[-1]
            norm = ops.sqrt(ops.sum(ops.square(variable)))
            self.assign(variable, variable * (filters**0.5 / (norm + 1e-12)))
            update = orthogonalize(ops.reshape(direction, (-1, filters)), steps=self.ns_steps)
            self.assign_sub(variable, learning_rate * ops.reshape(update, shape))
            return
        peak = self.head_learning_rate if len(shape) == 2 else self.bias_learning_rate
        if peak == 0:
            return
        rate = learning_rate * (peak / self._peak)
        gradient = gradient + (self.sgd_weight_decay / peak) * variable
        self.assign(buffer, buffer * self.sgd_momentum + gradient)
        self.assign_sub(variable, rate * (gradient + self.sgd_momentum * buffer))

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.pop("weight_decay", None)
        config.update(
            momentum=self.momentum,
            bias_learning_rate=self.bias_learning_rate,
            head_learning_rate=self.head_learning_rate,
            sgd_momentum=self.sgd_momentum,
            sgd_weight_decay=self.sgd_weight_decay,
            ns_steps=self.ns_steps,
        )
        return config
