"""HomoLR's FedAvg loops, as FATE 1.11's FedAVGTrainer runs them: each client trains local epochs over its
own samples (mini-batches in order, the learning rate decaying per step), and every ``aggregate_iters``
epochs the clients replace their model by the weighted mean of all clients' models and report their epoch
loss; the arbiter unmasks both sums (``fate_flow.ml.secure_agg``), decides convergence (``early_stop``) on
the mean loss (or on how far the mean model moved) and tells the clients whether to stop.

The weights are one vector: the coefficients, then the intercept when ``init_param.fit_intercept``.
The optimizers are the shared ones (``fate_flow.ml.optim``) with the conf's penalty on the coefficients;
FATE 1.11's torch trainer instead applies ``alpha`` as L2 weight decay to every weight, intercept
included, whatever the penalty (the same for the L2 confs of FATE's examples but for the intercept).
``early_stop: weight_diff``, which FATE's homo trainer ignores, stops once the mean model moves less than
``tol`` relative to its norm.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from fate_flow.components.homo_lr import HomoLRParams
from fate_flow.errors import ComponentError
from fate_flow.framework.context import Context
from fate_flow.ml.batch import batch_indices
from fate_flow.ml.optim import Optimizer, converged, initial_weights
from fate_flow.ml.secure_agg import AggregationClient, AggregationServer

LOSS_TYPE = "LOSS"


@dataclass
class Samples:
    """A client's training samples: features (rows x features), 0/1 labels, optional sample weights."""

    features: np.ndarray
    labels: np.ndarray
    weights: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.labels)


@dataclass
class ClientFit:
    """What a client's training produced."""

    weights: np.ndarray
    loss_history: list[float]
    is_converged: bool
    validation: dict = field(default_factory=dict)  # {"train": {"auc": [per validation], ...}, "validate": ...}

    @property
    def best_iteration(self) -> int:
        """The epoch with the lowest local loss (FATE's ``best_epoch``)."""
        return int(np.argmin(self.loss_history)) if self.loss_history else -1


@dataclass
class ArbiterFit:
    """What the arbiter saw of a training: the mean loss of each aggregation round."""

    rounds: list[int]  # the epoch index of each aggregation
    loss_history: list[float]
    is_converged: bool

    def summary(self) -> dict:
        """FATE's arbiter summary keys (``base_linear_model_arbiter``)."""
        result: dict = {"loss_history": self.loss_history, "is_converged": self.is_converged,
                        "best_iteration": -1}
        if self.loss_history:
            best = int(np.argmin(self.loss_history))
            result.update(best_iteration=self.rounds[best], best_iter_loss=self.loss_history[best])
        return result


# -- the model's arithmetic ---------------------------------------------------------------------------------------
def design(features: np.ndarray, fit_intercept: bool) -> np.ndarray:
    """The design matrix: the features, and a column of ones for the intercept."""
    features = np.asarray(features, dtype=np.float64)
    return np.hstack([features, np.ones((len(features), 1))]) if fit_intercept else features


def sigmoid(z: np.ndarray) -> np.ndarray:
    """The logistic function, without overflow warnings for large |z|."""
    return 0.5 * (1.0 + np.tanh(0.5 * z))


def loss_and_gradient(x: np.ndarray, y: np.ndarray, sample_weights: np.ndarray | None,
                      w: np.ndarray) -> tuple[float, np.ndarray]:
    """The batch's mean cross-entropy and its gradient at ``w`` (weighted by sample weights, as FATE's
    WeightedBCE: divided by their sum)."""
    z = x @ w
    losses = np.logaddexp(0.0, z) - y * z
    residual = sigmoid(z) - y
    if sample_weights is None:
        return float(losses.mean()), x.T @ residual / len(y)
    total = float(sample_weights.sum())
    return float(losses @ sample_weights) / total, x.T @ (residual * sample_weights) / total


def make_optimizer(params: HomoLRParams) -> Optimizer:
    """The client's optimizer. FATE's homo trainer decays the learning rate per optimizer step, so the
    caller advances ``iteration`` once per batch."""
    if params.optimizer == "sqn":
        raise ComponentError("HomoLR: parameter optimizer: sqn is not supported by HomoLR (use sgd, rmsprop, adam, "
                             "adagrad or nesterov_momentum_sgd)")
    return Optimizer(method=params.optimizer, learning_rate=params.learning_rate, alpha=params.alpha,
                     penalty=params.penalty, decay=params.decay, decay_sqrt=params.decay_sqrt,
                     fit_intercept=params.init_param.fit_intercept)


def local_epoch(x: np.ndarray, samples: Samples, w: np.ndarray, optimizer: Optimizer,
                batches: list[np.ndarray]) -> tuple[np.ndarray, float]:
    """One pass over the batches; returns the new weights and the epoch loss (each batch's loss before its
    step, weighted by the batch's size, as FATE's trainer reports it)."""
    total = 0.0
    for rows in batches:
        weights = samples.weights[rows] if samples.weights is not None else None
        loss, gradient = loss_and_gradient(x[rows], samples.labels[rows], weights, w)
        w = optimizer.step(w, gradient)
        optimizer.iteration += 1
        total += loss * len(rows)
    return w, total / len(samples)


def is_aggregation(epoch: int, aggregate_iters: int) -> bool:
    """Whether the clients aggregate after ``epoch`` (0-based)."""
    return (epoch + 1) % aggregate_iters == 0


def starting_weights(params: HomoLRParams, features: int) -> np.ndarray:
    """``init_param``'s weights: the coefficients, then the intercept."""
    init = params.init_param
    return initial_weights(init.init_method, features + int(init.fit_intercept), init.init_const, init.random_seed)


# -- the loops ----------------------------------------------------------------------------------------------------
def train_client(ctx: Context, samples: Samples, params: HomoLRParams, start: np.ndarray | None = None,
                 loss_namespace: str | None = "train",
                 on_epoch: Callable[[int, np.ndarray], None] | None = None) -> ClientFit:
    """A client's FedAvg training in the session at ``ctx`` (the arbiter runs ``train_arbiter`` at the same
    tag). ``on_epoch(epoch, weights)`` runs after each epoch's aggregation (validation)."""
    x = design(samples.features, params.init_param.fit_intercept)
    w = starting_weights(params, samples.features.shape[1]) if start is None else np.array(start, dtype=np.float64)
    optimizer = make_optimizer(params)
    batches = batch_indices(len(samples), params.batch_size)  # FATE's homo trainer never shuffles
    aggregator = AggregationClient(ctx, len(samples))
    history: list[float] = []
    stop = False
    for epoch in range(params.max_iter):
        w, loss = local_epoch(x, samples, w, optimizer, batches)
        history.append(loss)
        if loss_namespace is not None:
            ctx.metrics.curve(loss_namespace, "loss", [(epoch, loss)], metric_type=LOSS_TYPE, unit_name="epochs")
        if is_aggregation(epoch, params.aggregate_iters):
            step = ctx.child("round", epoch)
            w = aggregator.mean(step, "model", w)
            aggregator.mean(step, "loss", np.array([loss]))
            stop = bool(step.arbiter.get("converged"))
        if on_epoch is not None:
            on_epoch(epoch, w)
        if stop:
            break
    return ClientFit(weights=w, loss_history=history, is_converged=stop)


def train_arbiter(ctx: Context, params: HomoLRParams, loss_namespace: str | None = "train") -> ArbiterFit:
    """The arbiter's side of ``train_client``: unmask the mean model and loss each round, decide convergence."""
    aggregator = AggregationServer(ctx)
    fit = ArbiterFit(rounds=[], loss_history=[], is_converged=False)
    previous_model: np.ndarray | None = None
    for epoch in range(params.max_iter):
        if not is_aggregation(epoch, params.aggregate_iters):
            continue
        step = ctx.child("round", epoch)
        model = aggregator.sum(step, "model")
        loss = float(aggregator.sum(step, "loss")[0])
        change = None
        if previous_model is not None:  # FATE's weight_diff: the move relative to the model's norm (at least 1)
            change = float(np.linalg.norm(model - previous_model)) / max(float(np.linalg.norm(model)), 1.0)
        previous = fit.loss_history[-1] if fit.loss_history else None
        fit.is_converged = converged(params.early_stop, params.tol, loss, previous, change)
        aggregator.broadcast(step, "converged", fit.is_converged)
        fit.rounds.append(epoch)
        fit.loss_history.append(loss)
        if loss_namespace is not None:
            ctx.metrics.curve(loss_namespace, "loss", [(epoch, loss)], metric_type=LOSS_TYPE,
                              unit_name="aggregate_round")
        previous_model = model
        if fit.is_converged:
            break
    ctx.logger.info("%s: %d aggregation rounds, converged: %s", ctx.component_name, len(fit.rounds),
                    fit.is_converged)
    return fit

