"""The runner of HeteroLR, HeteroLinR and HeteroPoisson at each role: align the samples, train (one model, or
one per class for one-vs-rest), predict, validate, save the model, summarise as FATE does."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fate_flow.framework import PREDICT, ComponentError, Context, Table
from fate_flow.ml import predict as outputs
from fate_flow.ml.batch import folds
from fate_flow.ml.glm import LINEAR, LOGISTIC, POISSON, Family
from fate_flow.ml.hetero_linear import Settings, arbiter_fit, guest_fit, host_fit

FAMILIES = {"HeteroLR": LOGISTIC, "HeteroLinR": LINEAR, "HeteroPoisson": POISSON}
EVAL_TYPES = {"logistic": "binary", "linear": "regression", "poisson": "regression"}


def run(ctx: Context) -> None:
    """Dispatch on role and stage."""
    family = FAMILIES[ctx.module] if ctx.module in FAMILIES else _family_of(ctx)
    if ctx.role == "arbiter":
        if ctx.stage != PREDICT:
            _arbiter(ctx)
        return
    if ctx.stage == PREDICT:
        (_guest_predict if ctx.role == "guest" else _host_predict)(ctx, family)
    elif ctx.params.cv_param.need_cv:
        (_guest_cv if ctx.role == "guest" else _host_cv)(ctx, family)
    else:
        (_guest_train if ctx.role == "guest" else _host_train)(ctx, family)


def _family_of(ctx: Context) -> Family:
    for name, family in FAMILIES.items():
        if type(ctx.params).__name__.startswith(name):
            return family
    raise ComponentError(f"{ctx.module} is not a hetero linear model")


# -- shared ----------------------------------------------------------------------------------------------------
def _send_order(ctx: Context, name: str, table: Table) -> np.ndarray:
    sids = table.sids()
    ctx.hosts.put(name, [str(s) for s in sids])
    return sids


def _aligned(ctx: Context, name: str, table: Table) -> np.ndarray:
    """This host's features in the guest's sample order (the guest sends the ids it holds)."""
    order = ctx.guest.get(name)
    if not isinstance(order, list) or not all(isinstance(s, str) for s in order):
        raise ComponentError("the guest sent a bad sample order")
    sids = table.sids().astype(str)
    position = {sid: index for index, sid in enumerate(sids)}
    missing = [s for s in order if s not in position]
    if missing:
        raise ComponentError(f"{ctx.component_name}: {len(missing)} samples of the guest are not in this host's data "
                             f"(e.g. {missing[0]!r}); put an Intersection in front")
    return table.features()[np.fromiter((position[s] for s in order), dtype=np.int64, count=len(order))]


def _weights(table: Table) -> np.ndarray | None:
    return table.weights()


def _classes(family: Family, y: np.ndarray) -> list:
    if family is not LOGISTIC:
        return []
    # class names as the labels are written (1, not 1.0)
    classes = [int(c) if float(c).is_integer() else c for c in sorted(np.unique(y).tolist())]
    if len(classes) < 2:
        raise ComponentError(f"the label has a single class ({classes}): nothing to learn")
    return classes


def _binary_targets(y: np.ndarray, classes: list) -> list[np.ndarray]:
    """One 0/1 target per model: one for two classes (the larger is positive), one per class for one-vs-rest."""
    if len(classes) == 2:
        return [(y == classes[1]).astype(np.float64)]
    return [(y == c).astype(np.float64) for c in classes]


def _offset(ctx: Context, table: Table) -> np.ndarray | None:
    name = getattr(ctx.params, "exposure_colname", None)
    if not name:
        return None
    if name not in table.schema.header:
        # FATE's rule: an exposure column the data lacks means no exposure (every rate's exposure is 1)
        ctx.logger.warning("exposure_colname %r is not a column of the data: training without exposure", name)
        return None
    return table.floats(name)


def _design(table: Table, exposure: str | None) -> tuple[np.ndarray, list[str]]:
    header = [h for h in table.schema.header if h != exposure]
    index = [list(table.schema.header).index(h) for h in header]
    return table.features()[:, index], header


# -- guest -----------------------------------------------------------------------------------------------------
@dataclass
class GuestModel:
    header: list[str]
    weights: list[np.ndarray]  # one per model; the intercept last when fitted
    classes: list
    fit_intercept: bool

    def scores(self, family: Family, x: np.ndarray, host_wx: list[np.ndarray], offset: np.ndarray | None) -> np.ndarray:
        """Rows x models: each model's output."""
        columns = []
        for index, w in enumerate(self.weights):
            wx = x @ (w[:-1] if self.fit_intercept else w) + (w[-1] if self.fit_intercept else 0.0)
            columns.append(family.predict(wx + host_wx[index], offset))
        return np.column_stack(columns)


def _host_wx(ctx: Context, name: str, models: int, rows: int) -> list[np.ndarray]:
    """The hosts' ``wx`` per model for the rows of ``name``, summed over hosts."""
    total = [np.zeros(rows) for _ in range(models)]
    for per_host in ctx.hosts.get(name):
        if not isinstance(per_host, list) or len(per_host) != models:
            raise ComponentError("a host sent a bad prediction")
        for index, values in enumerate(per_host):
            values = np.asarray(values, dtype=np.float64)
            if values.shape != (rows,):
                raise ComponentError("a host sent a prediction of the wrong length")
            total[index] += values
    return total


def _prediction_table(family: Family, model: GuestModel, table: Table, scores: np.ndarray, kind: str,
                      threshold: float) -> Table:
    labels = table.column(table.schema.label) if table.schema.label else None
    sids = table.sids()
    if family is not LOGISTIC:
        return outputs.regression_output(sids, labels, scores[:, 0], kind, table.schema.sid)
    if len(model.classes) == 2:
        names = [str(c) for c in model.classes]
        return outputs.binary_output(sids, labels, scores[:, 0], threshold, kind, names, table.schema.sid)
    return outputs.multi_output(sids, labels, scores, [str(c) for c in model.classes], kind, table.schema.sid)


def _guest_train(ctx: Context, family: Family) -> None:
    params = ctx.params
    train = ctx.inputs.first("train_data", "data")
    validate = ctx.inputs.get("validate_data")
    settings = Settings.of(params)
    exposure = getattr(params, "exposure_colname", None)
    x, header = _design(train, exposure)
    y = train.labels()
    classes = _classes(family, y)
    targets = _binary_targets(y, classes) if classes else [y]
    _send_order(ctx, "train_order", train)
    if validate is not None:
        _send_order(ctx, "validate_order", validate)
    ctx.hosts.put("models", len(targets))
    ctx.arbiter.put("models", len(targets))
    warm = _warm_start(ctx, len(targets))
    validation = Validation(ctx, family, train, validate, header, classes, exposure, settings)
    fits = []
    for index, target in enumerate(targets):
        with ctx.sub("model", index) as sub:
            fits.append(guest_fit(sub, family, x, target, _weights(train), settings,
                                  warm[index] if warm else None, _offset(ctx, train),
                                  validation.for_model(index, len(targets))))
    model = GuestModel(header, [f.weights for f in fits], classes, settings.fit_intercept)
    _guest_outputs(ctx, family, model, train, validate, exposure)
    _save_guest(ctx, family, model, fits)
    ctx.summary(_summary(model, fits, validation.history, family))


def _guest_outputs(ctx: Context, family: Family, model: GuestModel, train: Table, validate: Table | None,
                   exposure: str | None) -> None:
    threshold = getattr(ctx.params, "predict_param", None)
    threshold = threshold.threshold if threshold is not None else 0.5
    tables = []
    for kind, table in (("train", train), ("validate", validate)):
        if table is None:
            continue
        with ctx.sub("predict", kind) as sub:
            x, _ = _design(table, exposure)
            host_wx = _host_wx(sub, "wx", len(model.weights), table.count())
            scores = model.scores(family, x, host_wx, _offset(ctx, table))
        tables.append(_prediction_table(family, model, table, scores, kind, threshold))
    ctx.outputs[0].write(outputs.concat(tables))


def _warm_start(ctx: Context, models: int) -> list[np.ndarray] | None:
    if not ctx.models.available():
        return None
    loaded = ctx.models.load()
    weights = [np.asarray(w) for w in loaded.param["weights"]]
    if len(weights) != models:
        raise ComponentError(f"the warm-start model has {len(weights)} models, the data needs {models}")
    return weights


def _save_guest(ctx: Context, family: Family, model: GuestModel, fits: list) -> None:
    ctx.models.save(param={"header": model.header, "weights": [w.tolist() for w in model.weights],
                           "classes": model.classes, "fit_intercept": model.fit_intercept,
                           "family": family.name, "iters": max(f.iterations for f in fits),
                           "is_converged": all(f.converged for f in fits)},
                    meta=ctx.params.model_dump(mode="json"))


def _summary(model: GuestModel, fits: list, history: dict, family: Family) -> dict:
    def one(w: np.ndarray) -> dict:
        coef = w[:-1] if model.fit_intercept else w
        return {"coef": dict(zip(model.header, map(float, coef), strict=True)),
                "intercept": float(w[-1]) if model.fit_intercept else 0.0}

    summary = one(model.weights[0]) if len(model.weights) == 1 else {
        "one_vs_rest_models": [one(w) for w in model.weights]}
    summary.update(is_converged=all(f.converged for f in fits), best_iteration=fits[0].best_iteration,
                   iters=max(f.iterations for f in fits))
    if family is LOGISTIC:
        summary["one_vs_rest"] = len(model.weights) > 1
    if history:
        summary["validation_metrics"] = history
    return summary


def _guest_predict(ctx: Context, family: Family) -> None:
    loaded = ctx.models.load()
    param = loaded.param
    model = GuestModel(list(param["header"]), [np.asarray(w) for w in param["weights"]], list(param["classes"]),
                       bool(param["fit_intercept"]))
    table = ctx.inputs.first("test_data", "data", "validate_data")
    exposure = getattr(ctx.params, "exposure_colname", None)
    with ctx.sub("predict", "test") as sub:
        _send_order(sub, "order", table)
        x, header = _design(table, exposure)
        if header != model.header:
            raise ComponentError(f"{ctx.component_name}: the data's features {header[:5]}... differ from the model's")
        scores = model.scores(family, x, _host_wx(sub, "wx", len(model.weights), table.count()),
                              _offset(ctx, table))
    threshold = ctx.params.predict_param.threshold if hasattr(ctx.params, "predict_param") else 0.5
    ctx.outputs[0].write(_prediction_table(family, model, table, scores, outputs.TEST, threshold))


# -- validation during training (guest side; hosts answer with their wx) ------------------------------------------
class Validation:
    """FATE's PerformanceEvaluate callback: every ``validation_freqs`` iterations, the model's metrics on the
    train (and validate) data; with ``early_stopping_rounds``, stop when the first metric stops improving."""

    def __init__(self, ctx: Context, family: Family, train: Table, validate: Table | None, header: list[str],
                 classes: list, exposure: str | None, settings: Settings):
        self.ctx, self.family, self.settings = ctx, family, settings
        self.data = {"train": train, **({"validate": validate} if validate is not None else {})}
        self.classes, self.exposure = classes, exposure
        self.metrics = list(ctx.params.callback_param.metrics)
        self.history: dict[str, dict[str, list[float]]] = {}
        self.best: tuple[float, int] | None = None

    def for_model(self, index: int, models: int):
        """The validator of model ``index`` (only single models validate, as the metric is per model)."""
        if self.settings.validation_freqs is None or models > 1:
            return None

        def validate(step: Context, iteration: int, weights: np.ndarray) -> bool:
            from fate_flow.ml.metrics import validation_scores

            model = GuestModel([], [weights], self.classes, self.settings.fit_intercept)
            for kind, table in self.data.items():
                x, _ = _design(table, self.exposure)
                host_wx = _host_wx(step, f"wx_{kind}", 1, table.count())
                scores = model.scores(self.family, x, host_wx, _offset(self.ctx, table))[:, 0]
                labels = table.labels()
                if self.family is LOGISTIC:
                    labels = (labels == self.classes[1]).astype(np.float64)
                values = validation_scores(EVAL_TYPES[self.family.name], self.metrics, labels, scores)
                for metric, value in values.items():
                    self.history.setdefault(kind, {}).setdefault(metric, []).append(float(value))
            return self._should_stop(iteration)

        return validate

    def _should_stop(self, iteration: int) -> bool:
        rounds = self.settings.early_stopping_rounds
        kind = "validate" if "validate" in self.history else "train"
        first = next(iter(self.history[kind].items()))
        name, values = first
        value = values[-1]
        better = (lambda a, b: a < b) if name in ("mean_squared_error", "root_mean_squared_error",
                                                  "mean_absolute_error", "median_absolute_error") else (
            lambda a, b: a > b)
        if self.best is None or better(value, self.best[0]):
            self.best = (value, iteration)
            return False
        return rounds is not None and iteration - self.best[1] >= rounds


# -- host ------------------------------------------------------------------------------------------------------
def _host_train(ctx: Context, family: Family) -> None:
    settings = Settings.of(ctx.params)
    train = ctx.inputs.first("train_data", "data")
    validate = ctx.inputs.get("validate_data")
    x = _aligned(ctx, "train_order", train)
    validate_x = _aligned(ctx, "validate_order", validate) if validate is not None else None
    models = int(ctx.guest.get("models"))
    warm = _host_warm_start(ctx, models)

    def answer(step: Context, weights: np.ndarray) -> None:
        step.guest.put("wx_train", [x @ weights])
        if validate_x is not None:
            step.guest.put("wx_validate", [validate_x @ weights])

    fits = []
    for index in range(models):
        with ctx.sub("model", index) as sub:
            fits.append(host_fit(sub, family, x, settings, weighted=train.schema.weight is not None,
                                 initial=warm[index] if warm else None, on_validate=answer))
    weights = [f.weights for f in fits]
    for kind, rows in (("train", x), ("validate", validate_x)):
        if rows is not None:
            with ctx.sub("predict", kind) as sub:
                sub.guest.put("wx", [rows @ w for w in weights])
    header = list(train.schema.header)
    ctx.models.save(param={"header": header, "weights": [w.tolist() for w in weights], "family": family.name},
                    meta=ctx.params.model_dump(mode="json"))
    ctx.summary({"coef": dict(zip(header, map(float, weights[0]), strict=True)) if len(weights) == 1 else
                 [dict(zip(header, map(float, w), strict=True)) for w in weights],
                 "is_converged": all(f.converged for f in fits), "iters": max(f.iterations for f in fits)})


def _host_warm_start(ctx: Context, models: int) -> list[np.ndarray] | None:
    if not ctx.models.available():
        return None
    weights = [np.asarray(w) for w in ctx.models.load().param["weights"]]
    if len(weights) != models:
        raise ComponentError(f"the warm-start model has {len(weights)} models, the guest trains {models}")
    return weights


def _host_predict(ctx: Context, family: Family) -> None:
    weights = [np.asarray(w) for w in ctx.models.load().param["weights"]]
    table = ctx.inputs.first("test_data", "data", "validate_data")
    with ctx.sub("predict", "test") as sub:
        x = _aligned(sub, "order", table)
        sub.guest.put("wx", [x @ w for w in weights])


# -- arbiter ---------------------------------------------------------------------------------------------------
def _arbiter(ctx: Context) -> None:
    settings = Settings.of(ctx.params)
    if ctx.params.cv_param.need_cv:
        for fold in range(ctx.params.cv_param.n_splits):
            with ctx.sub("fold", fold) as sub:
                _arbiter_models(sub, settings)
        return
    fits = _arbiter_models(ctx, settings)
    fit = fits[0]
    summary = {"loss_history": fit.loss_history, "is_converged": fit.converged, "best_iteration": fit.best_iteration}
    if fit.loss_history:
        summary["best_iter_loss"] = min(fit.loss_history)
    ctx.summary(summary)


def _arbiter_models(ctx: Context, settings: Settings) -> list:
    models = int(ctx.guest.get("models"))
    fits = []
    for index in range(models):
        with ctx.sub("model", index) as sub:
            fits.append(arbiter_fit(sub, settings))
    return fits


# -- cross validation ------------------------------------------------------------------------------------------
def _guest_cv(ctx: Context, family: Family) -> None:
    params = ctx.params
    table = ctx.inputs.first("train_data", "data")
    cv = params.cv_param
    parts = folds(table.count(), cv.n_splits, cv.shuffle, cv.random_seed)
    _send_order(ctx, "cv_order", table)
    ctx.hosts.put("folds", parts)
    settings = Settings.of(params)
    scores: dict[str, list[float]] = {}
    predictions = []
    for fold, held_out in enumerate(parts):
        kept = np.setdiff1d(np.arange(table.count()), held_out)
        train, test = table.take(kept), table.take(held_out)
        with ctx.sub("fold", fold) as sub:
            x, header = _design(train, getattr(params, "exposure_colname", None))
            y = train.labels()
            classes = _classes(family, y)
            targets = _binary_targets(y, classes) if classes else [y]
            sub.hosts.put("models", len(targets))
            sub.arbiter.put("models", len(targets))
            fits = []
            for index, target in enumerate(targets):
                with sub.sub("model", index) as model_ctx:
                    fits.append(guest_fit(model_ctx, family, x, target, _weights(train), settings,
                                          offset=_offset(sub, train)))
            model = GuestModel(header, [f.weights for f in fits], classes, settings.fit_intercept)
            with sub.sub("predict", "test") as predict_ctx:
                tx, _ = _design(test, getattr(params, "exposure_colname", None))
                values = model.scores(family, tx, _host_wx(predict_ctx, "wx", len(model.weights), test.count()),
                                      _offset(sub, test))
        predictions.append(_prediction_table(family, model, test, values, "validate", 0.5))
        _fold_scores(scores, family, model, test, values)
    ctx.outputs[0].write(outputs.concat(predictions))
    ctx.summary({"cv_scores": scores, "n_splits": cv.n_splits})
    for metric, values in scores.items():
        ctx.metrics.scalars("cv", metric, {f"fold_{i}": v for i, v in enumerate(values)})


def _fold_scores(scores: dict, family: Family, model: GuestModel, table: Table, values: np.ndarray) -> None:
    from fate_flow.ml.metrics import validation_scores

    labels = table.labels()
    if family is LOGISTIC and len(model.classes) == 2:
        found = validation_scores("binary", [], (labels == model.classes[1]).astype(float), values[:, 0])
    elif family is LOGISTIC:
        predicted = np.asarray(model.classes)[values.argmax(axis=1)]
        found = validation_scores("multi", [], labels, values.max(axis=1), predicted=predicted)
    else:
        found = validation_scores("regression", [], labels, values[:, 0])
    for metric, value in found.items():
        scores.setdefault(metric, []).append(float(value))


def _host_cv(ctx: Context, family: Family) -> None:
    table = ctx.inputs.first("train_data", "data")
    x_all = _aligned(ctx, "cv_order", table)
    parts = ctx.guest.get("folds")
    settings = Settings.of(ctx.params)
    for fold, held_out in enumerate(parts):
        held_out = np.asarray(held_out, dtype=np.int64)
        kept = np.setdiff1d(np.arange(len(x_all)), held_out)
        with ctx.sub("fold", fold) as sub:
            models = int(sub.guest.get("models"))
            weights = []
            for index in range(models):
                with sub.sub("model", index) as model_ctx:
                    weights.append(host_fit(model_ctx, family, x_all[kept], settings).weights)
            with sub.sub("predict", "test") as predict_ctx:
                predict_ctx.guest.put("wx", [x_all[held_out] @ w for w in weights])
