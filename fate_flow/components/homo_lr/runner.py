"""HomoLR's runners: ``run_client`` (guest and hosts) and ``run_arbiter``.

Train stage: the clients agree on the label classes (the guest gathers the hosts' and sends back the
union, the arbiter learns how many); two classes train one binary model, more train one model per class
(one-vs-rest), each in its own sub-context and secure aggregation session. Each client then writes its
predictions of the train (and validate) data, its model and summary. With ``cv_param.need_cv`` every
client splits its own samples into ``n_splits`` folds and the parties train once per fold instead.
Predict stage: each client scores its test data with the model; the arbiter has nothing to do.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from fate_flow.components.homo_lr import HomoLRParams
from fate_flow.components.homo_lr.model import LRModel, load_model, save_cv_model, save_model
from fate_flow.components.homo_lr.training import (
    ArbiterFit,
    ClientFit,
    Samples,
    design,
    sigmoid,
    train_arbiter,
    train_client,
)
from fate_flow.engine.table import Table
from fate_flow.errors import ComponentError
from fate_flow.framework.context import Context
from fate_flow.framework.spec import PREDICT
from fate_flow.ml.batch import folds
from fate_flow.ml.metrics import BINARY, MULTI, validation_scores
from fate_flow.ml.predict import TEST, TRAIN, VALIDATE, binary_output, concat, multi_output


@dataclass
class Trained:
    """A client's training: the model, each binary model's fit, and the summary FATE gives of it."""

    model: LRModel
    fits: list[ClientFit]
    summary: dict = field(default_factory=dict)


# -- the client ---------------------------------------------------------------------------------------------------
def run_client(ctx: Context) -> None:
    """Guest or host: train (or cross validate), or score test data with a trained model."""
    params: HomoLRParams = ctx.params
    if ctx.stage == PREDICT:
        _predict_stage(ctx, params)
        return
    train = ctx.inputs.get("train_data")
    if train is None:
        raise ComponentError(f"{ctx.component_name}: HomoLR needs train_data at {ctx.role} {ctx.party_id}")
    _check_labelled(ctx, train, "train_data")
    validate = ctx.inputs.get("validate_data")
    if validate is not None:
        _check_labelled(ctx, validate, "validate_data")
    classes = _sync_classes(ctx, np.unique(train.column(train.schema.label)).tolist())
    if params.cv_param.need_cv:
        _cross_validate(ctx, params, train, classes)
        return
    start = _warm_start(ctx, classes, list(train.schema.header))
    trained = _fit(ctx, params, train, validate, classes, start, track=True)
    outputs = [_prediction(trained.model, params, train, TRAIN)]
    if validate is not None:
        outputs.append(_prediction(trained.model, params, _aligned(ctx, validate, trained.model.header), VALIDATE))
    ctx.outputs[0].write(concat(outputs))
    save_model(ctx, params, trained.model, trained.fits)
    ctx.summary(trained.summary)
    ctx.logger.info("%s: trained %d model(s) on %d samples", ctx.component_name, len(trained.fits), train.count())


def _check_labelled(ctx: Context, table: Table, key: str) -> None:
    if not table.schema.label:
        raise ComponentError(f"{ctx.component_name}: {key} has no label column at {ctx.role} {ctx.party_id} "
                             "(HomoLR needs labels at every client: DataTransform with_label)")
    if not table.count():
        raise ComponentError(f"{ctx.component_name}: {key} is empty at {ctx.role} {ctx.party_id}")


def _sync_classes(ctx: Context, local: list[Any]) -> list[Any]:
    """Every client's label classes, united by the guest (FATE's HomoOneVsRest synchronisation); the arbiter
    learns their number only."""
    sync = ctx.child("labels", "sync")
    if ctx.role == "guest":
        union = set(local)
        for classes in sync.hosts.get("classes") if sync.hosts else []:
            if not isinstance(classes, list):
                raise ComponentError(f"{ctx.component_name}: a host sent its label classes in a bad form")
            union.update(classes)
        united = sorted(union)
        if sync.hosts:
            sync.hosts.put("classes", united)
        sync.arbiter.put("class_count", len(united))
    else:
        sync.guest.put("classes", list(local))
        united = list(sync.guest.get("classes"))
    if len(united) < 2:
        raise ComponentError(f"{ctx.component_name}: the clients' labels hold one class only ({united}): "
                             "logistic regression needs two or more")
    return united


def _binary_targets(classes: list[Any]) -> list[Any]:
    """The positive class of each binary model: the larger of two classes, or each class in turn (ovr)."""
    return [classes[1]] if len(classes) == 2 else list(classes)


def _samples(table: Table, positive: Any) -> Samples:
    labels = (table.column(table.schema.label) == positive).astype(np.float64)
    return Samples(features=table.features(), labels=labels, weights=table.weights())


def _fit(ctx: Context, params: HomoLRParams, train: Table, validate: Table | None, classes: list[Any],
         start: np.ndarray | None, track: bool) -> Trained:
    """Train one binary model, or one per class. ``track``: record the loss and validation metrics (FATE does
    for a binary model outside cross validation)."""
    header = list(train.schema.header)
    targets = _binary_targets(classes)
    validate = _aligned(ctx, validate, header) if validate is not None else None
    fits: list[ClientFit] = []
    for index, positive in enumerate(targets):
        session = ctx if len(targets) == 1 else ctx.child("class", index)
        validation = _Validation(ctx, params, train, validate, positive, track and len(targets) == 1)
        fit = train_client(session, _samples(train, positive), params,
                           start=start[index] if start is not None else None,
                           loss_namespace="train" if track and len(targets) == 1 else None,
                           on_epoch=validation if params.validates else None)
        fit.validation = validation.summary
        fits.append(fit)
    model = LRModel(header=header, classes=list(classes), weights=np.vstack([f.weights for f in fits]),
                    fit_intercept=params.init_param.fit_intercept)
    singles = [_single_summary(model, row, fit) for row, fit in enumerate(fits)]
    if len(targets) == 1:
        summary = singles[0]
    else:
        summary = {str(c): {**single, "one_vs_rest": True} for c, single in zip(classes, singles, strict=True)}
    return Trained(model, fits, summary)


def _single_summary(model: LRModel, row: int, fit: ClientFit) -> dict:
    coef, intercept = model.coef_intercept(row)
    return {"coef": coef, "intercept": intercept, "is_converged": fit.is_converged,
            "best_iteration": fit.best_iteration, "local_loss_history": fit.loss_history,
            "validation_metrics": fit.validation}


class _Validation:
    """Validation during training (``callback_param.validation_freqs``): scores the train and validate data
    with the aggregated model of the epochs it names, as FATE's trainer does (auc and ks), recording them
    as metrics when ``track`` and always in the summary's ``validation_metrics``."""

    def __init__(self, ctx: Context, params: HomoLRParams, train: Table, validate: Table | None, positive: Any,
                 track: bool):
        self.ctx, self.params, self.track = ctx, params, track
        self.freqs = params.callback_param.validation_freqs
        self.sets = [("train", train, positive)] + ([("validate", validate, positive)] if validate is not None
                                                    else [])
        self.summary: dict[str, dict[str, list[float]]] = {}

    def due(self, epoch: int) -> bool:
        """Whether to validate after ``epoch`` (0-based): every ``freqs`` epochs, or the listed epochs."""
        if isinstance(self.freqs, int):
            return (epoch + 1) % self.freqs == 0
        return self.freqs is not None and (epoch + 1) in set(self.freqs)

    def __call__(self, epoch: int, weights: np.ndarray) -> None:
        if not self.due(epoch):
            return
        fit_intercept = self.params.init_param.fit_intercept
        for kind, table, positive in self.sets:
            scores = sigmoid(design(table.features(), fit_intercept) @ weights)
            truth = (table.column(table.schema.label) == positive).astype(np.float64)
            values = _evaluated(self.ctx, BINARY, self.params.validation_metrics, truth, scores)
            if self.track:
                self.ctx.metrics.scalars(kind, f"iteration_{epoch}", values)
            for name, value in values.items():
                self.summary.setdefault(kind, {}).setdefault(name, []).append(value)


def _warm_start(ctx: Context, classes: list[Any], header: list[str]) -> np.ndarray | None:
    """A model input in the train stage: training continues from its weights (FATE's warm start)."""
    if not ctx.models.available("model"):
        return None
    model = load_model(ctx)
    if model.header != header or len(model.weights) != len(_binary_targets(classes)):
        raise ComponentError(f"{ctx.component_name}: the input model was trained on other features or classes "
                             f"({model.header}, {model.classes}) than train_data ({header}, {classes})")
    return model.weights


# -- prediction -------------------------------------------------------------------------------------------------
def _prediction(model: LRModel, params: HomoLRParams, table: Table, kind: str,
                sids: np.ndarray | None = None) -> Table:
    """FATE's prediction rows for ``table`` (``sids`` replaces its ids, for the cross-validation history)."""
    probabilities = model.probabilities(table.features())
    labels = table.column(table.schema.label) if table.schema.label else None
    ids = table.sids() if sids is None else sids
    if model.one_vs_rest:
        return multi_output(ids, labels, probabilities, [str(c) for c in model.classes], kind, table.schema.sid)
    negative, positive = model.classes
    return binary_output(ids, labels, probabilities[:, 0], params.predict_param.threshold, kind,
                         classes=(str(negative), str(positive)), sid_name=table.schema.sid)


def _aligned(ctx: Context, table: Table, header: list[str]) -> Table:
    """``table`` read through the model's feature columns, in the model's order (FATE aligns the header)."""
    missing = [name for name in header if name not in table.schema.header]
    if missing:
        raise ComponentError(f"{ctx.component_name}: the data lacks the model's features {missing[:10]} "
                             f"at {ctx.role} {ctx.party_id}")
    return table if list(table.schema.header) == header else table.with_schema(table.schema.with_header(header))


def _predict_stage(ctx: Context, params: HomoLRParams) -> None:
    model = load_model(ctx)
    table = _aligned(ctx, ctx.inputs.first("test_data", "data", "validate_data"), model.header)
    ctx.outputs[0].write(_prediction(model, params, table, TEST))
    ctx.logger.info("%s: scored %d samples", ctx.component_name, table.count())


# -- cross validation ---------------------------------------------------------------------------------------------
def _cross_validate(ctx: Context, params: HomoLRParams, data: Table, classes: list[Any]) -> None:
    """FATE's KFold in homo mode: each client splits its own samples; per fold the parties train on the rest,
    and each client scores both parts (metrics per fold) and outputs the fold history."""
    cv = params.cv_param
    count = data.count()
    history: list[Table] = []
    summary: dict[str, Any] = {}
    for fold, test_rows in enumerate(folds(count, cv.n_splits, cv.shuffle, cv.random_seed)):
        train_rows = np.setdiff1d(np.arange(count), test_rows)
        train, test = data.take(train_rows), data.take(test_rows)
        trained = _fit(ctx.child("fold", fold), params, train, test, classes, None, track=False)
        for kind, table in ((TRAIN, train), (VALIDATE, test)):
            rows = _prediction(trained.model, params, table, kind,
                               sids=np.char.add(table.sids().astype(str), f"#fold{fold}#{kind}"))
            ctx.metrics.scalars(f"{kind}_fold_{fold}", "evaluation", _scores(ctx, trained.model, table))
            history.append(rows)
        summary[f"fold_{fold}"] = trained.summary
    summary["fold_num"] = cv.n_splits
    ctx.outputs[0].write(concat(history) if cv.output_fold_history else data)
    save_cv_model(ctx, list(data.schema.header), classes, cv.n_splits)
    ctx.summary(summary)


def _scores(ctx: Context, model: LRModel, table: Table) -> dict[str, float]:
    """The evaluation of ``table``'s predictions: auc and ks (binary), accuracy (one-vs-rest)."""
    probabilities = model.probabilities(table.features())
    labels = table.column(table.schema.label)
    if model.one_vs_rest:
        predicted = np.asarray(model.classes, dtype=object)[probabilities.argmax(axis=1)]
        return _evaluated(ctx, MULTI, [], labels, probabilities.max(axis=1), predicted)
    return _evaluated(ctx, BINARY, [], (labels == model.classes[1]).astype(np.float64), probabilities[:, 0])


def _evaluated(ctx: Context, eval_type: str, metrics: list[str], labels: np.ndarray, scores: np.ndarray,
               predicted: np.ndarray | None = None) -> dict[str, float]:
    """The single-value metrics of one data set; none (with a warning) when the data cannot give them, such
    as a fold whose labels hold one class."""
    try:
        return validation_scores(eval_type, metrics, labels, scores, predicted)
    except ValueError as exc:
        ctx.logger.warning("%s: no %s metrics for this data: %s", ctx.component_name, eval_type, exc)
        return {}


# -- the arbiter --------------------------------------------------------------------------------------------------
def run_arbiter(ctx: Context) -> None:
    """Arbiter: aggregate every training the clients run (per fold, per class); nothing to do to predict."""
    params: HomoLRParams = ctx.params
    if ctx.stage == PREDICT:
        return
    count = ctx.child("labels", "sync").guest.get("class_count")
    if not isinstance(count, int) or count < 2:
        raise ComponentError(f"{ctx.component_name}: the clients' labels hold fewer than two classes")
    models = 1 if count == 2 else count
    if params.cv_param.need_cv:
        summary: dict[str, Any] = {}
        for fold in range(params.cv_param.n_splits):
            fits = _arbitrate(ctx.child("fold", fold), params, models, track=False)
            summary[f"fold_{fold}"] = _arbiter_summary(fits)
        summary["fold_num"] = params.cv_param.n_splits
        ctx.summary(summary)
        return
    ctx.summary(_arbiter_summary(_arbitrate(ctx, params, models, track=True)))


def _arbitrate(ctx: Context, params: HomoLRParams, models: int, track: bool) -> list[ArbiterFit]:
    if models == 1:
        return [train_arbiter(ctx, params, loss_namespace="train" if track else None)]
    return [train_arbiter(ctx.child("class", index), params, loss_namespace=None) for index in range(models)]


def _arbiter_summary(fits: list[ArbiterFit]) -> dict:
    if len(fits) == 1:
        return fits[0].summary()
    return {str(index): {**fit.summary(), "one_vs_rest": True} for index, fit in enumerate(fits)}
