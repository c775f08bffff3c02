"""Gradient steps as FATE's linear models take them: a decaying learning rate, the optimizers FATE names,
L1/L2 penalties, and the convergence rules (``early_stop``). Each party applies its own optimizer to its
own weights, so only gradients it has unmasked itself ever meet its weights. ``sqn`` is sgd along ``H g``, the
L-BFGS direction the parties compute together (``ml.sqn``), which ``step`` takes as a ``precondition``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from fate_flow.errors import ComponentError

OPTIMIZERS = ("sgd", "rmsprop", "adam", "adagrad", "nesterov_momentum_sgd", "sqn")


@dataclass
class Optimizer:
    """One party's optimizer state. ``step`` turns a gradient into the new weights.

    ``fit_intercept``: the last weight is the intercept, which the penalty leaves alone (as FATE does).
    """

    method: str
    learning_rate: float
    alpha: float = 0.0
    penalty: str = "NONE"
    decay: float = 1.0
    decay_sqrt: bool = True
    fit_intercept: bool = False
    iteration: int = 0
    _m: np.ndarray | None = field(default=None, repr=False)
    _v: np.ndarray | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.method not in OPTIMIZERS:
            raise ComponentError(f"optimizer {self.method!r} is not provided (use one of {', '.join(OPTIMIZERS)})")

    def rate(self) -> float:
        """The learning rate of this iteration: ``lr / (1 + decay * t)``, or its square root form."""
        base = 1 + self.decay * self.iteration
        return self.learning_rate / (np.sqrt(base) if self.decay_sqrt else base)

    def _penalised(self, gradient: np.ndarray, weights: np.ndarray) -> np.ndarray:
        if self.penalty != "L2" or not self.alpha:
            return gradient
        coef = weights.copy()
        if self.fit_intercept:
            coef[-1] = 0.0
        return gradient + self.alpha * coef

    def penalty_hessian(self, vector: np.ndarray) -> np.ndarray:
        """The penalty's hessian times ``vector``: ``alpha * vector`` but the intercept for L2, else zeros."""
        if self.penalty != "L2" or not self.alpha:
            return np.zeros_like(vector)
        product = self.alpha * vector
        if self.fit_intercept:
            product[-1] = 0.0
        return product

    def step(self, weights: np.ndarray, gradient: np.ndarray,
             precondition: Callable[[np.ndarray], np.ndarray] | None = None) -> np.ndarray:
        """The weights after one step on ``gradient`` (the data loss's gradient, penalty added here); ``sqn``
        steps along ``precondition(penalised gradient)`` (sgd's direction without one)."""
        gradient = self._penalised(np.asarray(gradient, dtype=np.float64), weights)
        rate = self.rate()
        if self._m is None:
            self._m = np.zeros_like(weights)
            self._v = np.zeros_like(weights)
        if self.method == "sqn":
            delta = rate * (precondition(gradient) if precondition is not None else gradient)
        elif self.method == "sgd":
            delta = rate * gradient
        elif self.method == "nesterov_momentum_sgd":
            momentum = 0.9
            previous = self._m.copy()
            self._m = momentum * self._m - rate * gradient
            delta = -(-momentum * previous + (1 + momentum) * self._m)
        elif self.method == "rmsprop":
            self._m = 0.99 * self._m + 0.01 * gradient ** 2
            delta = rate * gradient / np.sqrt(self._m + 1e-6)
        elif self.method == "adagrad":
            self._m = self._m + gradient ** 2
            delta = rate * gradient / (np.sqrt(self._m) + 1e-7)
        else:  # adam
            beta1, beta2, t = 0.9, 0.999, self.iteration + 1
            self._m = beta1 * self._m + (1 - beta1) * gradient
            self._v = beta2 * self._v + (1 - beta2) * gradient ** 2
            corrected = rate * np.sqrt(1 - beta2 ** t) / (1 - beta1 ** t)
            delta = corrected * self._m / (np.sqrt(self._v) + 1e-8)
        updated = weights - delta
        if self.penalty == "L1" and self.alpha:
            updated = self._soft_threshold(updated, rate * self.alpha)
        return updated

    def _soft_threshold(self, weights: np.ndarray, threshold: float) -> np.ndarray:
        shrunk = np.sign(weights) * np.maximum(np.abs(weights) - threshold, 0.0)
        if self.fit_intercept:
            shrunk[-1] = weights[-1]
        return shrunk

    def penalty_loss(self, weights: np.ndarray) -> float:
        """The penalty's part of the loss for these weights (intercept excluded)."""
        coef = weights[:-1] if self.fit_intercept else weights
        if self.penalty == "L2":
            return 0.5 * self.alpha * float(coef @ coef)
        if self.penalty == "L1":
            return self.alpha * float(np.abs(coef).sum())
        return 0.0


def converged(early_stop: str, tol: float, loss: float | None, previous_loss: float | None,
              weight_change: float | None) -> bool:
    """FATE's ``early_stop`` rules: ``diff`` (loss changed by less than tol), ``abs`` (loss below tol),
    ``weight_diff`` (the weights moved by less than tol, as a norm)."""
    if early_stop == "weight_diff":
        return weight_change is not None and weight_change < tol
    if loss is None:
        return False
    if early_stop == "abs":
        return loss < tol
    return previous_loss is not None and abs(previous_loss - loss) < tol


def initial_weights(method: str, size: int, const: float = 1.0, seed: int | None = None) -> np.ndarray:
    """FATE's ``init_param.init_method``: random_uniform (in [0, 1)), random_normal, ones, zeros, const."""
    random = np.random.default_rng(seed)
    if method == "zeros":
        return np.zeros(size)
    if method == "ones":
        return np.ones(size)
    if method == "const":
        return np.full(size, float(const))
    if method == "random_normal":
        return random.normal(size=size)
    return random.uniform(size=size)
