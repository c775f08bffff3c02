"""HomoLR's model: the weights of one binary model (or one per class), how it scores, and its file (FATE's
LRModelParam / LRModelMeta fields, as JSON)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from fate_flow.components.homo_lr import HomoLRParams
from fate_flow.components.homo_lr.training import ClientFit, design, sigmoid
from fate_flow.errors import ComponentError
from fate_flow.framework.context import Context

MODULE = "HomoLR"


@dataclass
class LRModel:
    """A trained HomoLR: one weight row per binary model (one, or one per class for one-vs-rest), each the
    coefficients then the intercept."""

    header: list[str]
    classes: list[Any]
    weights: np.ndarray
    fit_intercept: bool

    @property
    def one_vs_rest(self) -> bool:
        """Whether this is one model per class."""
        return len(self.weights) > 1

    def probabilities(self, features: np.ndarray) -> np.ndarray:
        """Rows x models: each model's probability of its positive class."""
        return sigmoid(design(features, self.fit_intercept) @ self.weights.T)

    def coef_intercept(self, row: int) -> tuple[dict[str, float], float]:
        """Binary model ``row``'s coefficients by feature name, and its intercept (0 without one)."""
        weights = self.weights[row]
        coef = {name: float(w) for name, w in zip(self.header, weights, strict=False)}
        return coef, float(weights[-1]) if self.fit_intercept else 0.0


def _single_param(model: LRModel, row: int, fit: ClientFit) -> dict:
    """One binary model as FATE's LRModelParam holds it."""
    coef, intercept = model.coef_intercept(row)
    return {"iters": len(fit.loss_history), "loss_history": fit.loss_history, "is_converged": fit.is_converged,
            "weight": coef, "intercept": intercept, "header": model.header, "best_iteration": fit.best_iteration}


def save_model(ctx: Context, params: HomoLRParams, model: LRModel, fits: list[ClientFit]) -> None:
    """Write the model file: FATE's param (one model, or ``one_vs_rest_result``) and meta fields."""
    if model.one_vs_rest:
        param = {"header": model.header, "need_one_vs_rest": True, "best_iteration": -1,
                 "one_vs_rest_result": {"completed_models": [_single_param(model, row, fit)
                                                             for row, fit in enumerate(fits)],
                                        "one_vs_rest_classes": [str(c) for c in model.classes]}}
    else:
        param = {**_single_param(model, 0, fits[0]), "need_one_vs_rest": False, "one_vs_rest_result": None}
    param["classes"] = model.classes  # the label values themselves (FATE keeps the ovr classes as text only)
    meta = {"penalty": params.penalty, "tol": params.tol, "alpha": params.alpha, "optimizer": params.optimizer,
            "batch_size": params.batch_size, "learning_rate": params.learning_rate, "max_iter": params.max_iter,
            "early_stop": params.early_stop, "fit_intercept": model.fit_intercept, "module": MODULE,
            "need_one_vs_rest": model.one_vs_rest, "aggregate_iters": params.aggregate_iters}
    ctx.models.save(param=param, meta=meta)


def save_cv_model(ctx: Context, header: list[str], classes: list[Any], n_splits: int) -> None:
    """Cross validation keeps no model (FATE saves an empty one): only what it ran on."""
    ctx.models.save(param={"need_cv": True, "header": header, "classes": classes},
                    meta={"module": MODULE, "need_cv": True, "n_splits": n_splits})


def load_model(ctx: Context) -> LRModel:
    """The model bound to the task's ``model`` input; ComponentError when it is not a usable HomoLR model."""
    stored = ctx.models.load()
    param, meta = stored.param, stored.meta
    if meta.get("module") != MODULE or "header" not in param:
        raise ComponentError(f"{ctx.component_name}: the input model is not a HomoLR model")
    if param.get("need_cv"):
        raise ComponentError(f"{ctx.component_name}: the input model comes from cross validation, which keeps "
                             "no model to predict with")
    header = list(param["header"])
    fit_intercept = bool(meta.get("fit_intercept", True))
    singles = param["one_vs_rest_result"]["completed_models"] if param.get("need_one_vs_rest") else [param]
    rows = [[float(single["weight"][name]) for name in header]
            + ([float(single["intercept"])] if fit_intercept else []) for single in singles]
    weights = np.array(rows, dtype=np.float64).reshape(len(rows), len(header) + int(fit_intercept))
    return LRModel(header=header, classes=list(param.get("classes") or [0, 1]), weights=weights,
                   fit_intercept=fit_intercept)
