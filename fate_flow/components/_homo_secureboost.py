"""HomoSecureBoost's runners: ``run_client`` (guest and hosts) and ``run_arbiter``.

Train stage, in order (docs/fate-secureboost-1.11.md §5): a secure-sum session; each client sends the arbiter
its feature count, a digest of its header, its start round (FATE's ``start_and_end_round``: warm start) and
its label classes, and the masked sample count; the arbiter checks they agree and sends back the union of
the classes (FATE's HomoLabelEncoder); federated binning (skipped in a warm start: the model's split points);
then per round and dimension one tree (``fate_flow.ml.homo_sbt``), after which every client sends its loss
times its sample count masked, and the arbiter logs the global loss and says whether boosting converged.
Each client writes its predictions of the train (and validate) data, the model and its summary.
``cv_param.need_cv``: every client splits its own samples into folds and the parties train once per fold.
Predict stage: each client scores its data with its model; the arbiter has nothing to do.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np

from fate_flow.components.homo_secureboost import HomoSecureBoostParams
from fate_flow.engine.table import Table
from fate_flow.errors import ComponentError
from fate_flow.framework.context import Context
from fate_flow.framework.spec import PREDICT
from fate_flow.ml import predict as outputs
from fate_flow.ml.batch import folds
from fate_flow.ml.hetero_sbt import choose_features
from fate_flow.ml.homo_sbt import (
    ArbiterGrower,
    ClientGrower,
    SumClient,
    SumServer,
    arbiter_binning,
    client_binning,
    counts_of,
    raw_scores,
)
from fate_flow.ml.metrics import validation_scores
from fate_flow.ml.tree import Criterion, Objective, Tree, bin_with_missing

MODEL_NAME = "homo_sbt"
MAX_CLASSES = 10_000  # more label classes than this from a client is refused
LIMIT = 10 ** 6  # of features, rounds and trees a client may announce


# -- the model --------------------------------------------------------------------------------------------------
@dataclass
class Booster:
    """What a client learns: trees (round-major, ``tree_dim`` per round), the split points, the classes."""

    objective: Objective
    learning_rate: float
    tree_dim: int
    init_score: np.ndarray
    classes: list
    header: list[str]
    points: list[np.ndarray]
    trees: list[Tree] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)  # this client's own loss per round
    importance: dict[int, list[float]] = field(default_factory=dict)  # feature -> [splits, gain]
    converged: bool = False

    def raw(self, x: np.ndarray) -> np.ndarray:
        """Raw scores of ``x``."""
        return raw_scores(self.trees, x, self.init_score, self.learning_rate, self.tree_dim)


def _objective(params: HomoSecureBoostParams) -> Objective:
    name = params.objective_param.objective or "cross_entropy"
    values = params.objective_param.params or []
    return Objective(name, float(values[0]) if values and name in ("huber", "fair", "tweedie") else None)


def _criterion(params: HomoSecureBoostParams) -> Criterion:
    tree = params.tree_param
    l2, l1 = tree.criterion_params
    return Criterion(l2=l2, l1=l1, min_impurity_split=tree.min_impurity_split, min_leaf_node=tree.min_leaf_node,
                     min_child_weight=tree.min_child_weight, min_sample_split=tree.min_sample_split)


def _features(params: HomoSecureBoostParams, table: Table) -> np.ndarray:
    x = table.features().astype(np.float64, copy=True)
    if params.zeros_are_missing:
        x[x == 0] = np.nan
    return x


def _class_value(value: object) -> int | float | str:
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            return value
    number = float(value)
    return int(number) if number.is_integer() else number


# -- the client -------------------------------------------------------------------------------------------------
def run_client(ctx: Context) -> None:
    """Guest or host: train (or cross validate), or score data with a trained model."""
    params: HomoSecureBoostParams = ctx.params
    _check_supported(ctx, params)
    if ctx.stage == PREDICT:
        _predict(ctx, params)
        return
    train = ctx.inputs.first("train_data", "data")
    _check_labelled(ctx, train, "train_data")
    if params.cv_param.need_cv:
        _cross_validate(ctx, params, train)
        return
    validate = ctx.inputs.get("validate_data")
    if validate is not None:
        _check_labelled(ctx, validate, "validate_data")
    warm = _load(ctx) if ctx.models.available() else None
    header = list(train.schema.header)
    if warm is not None and warm.header != header:
        raise ComponentError(f"{ctx.component_name}: the input model was trained on features {warm.header[:5]}... "
                             f"not train_data's {header[:5]}...")
    validation = Validation.of(params, train, validate)
    booster = _fit(ctx, params, _features(params, train), train.labels(), train.weights(), header, warm, validation)
    tables = [_prediction(ctx, booster, train, booster.raw(_features(params, train)), outputs.TRAIN)]
    if validate is not None:
        validate = _aligned(ctx, validate, header)
        tables.append(_prediction(ctx, booster, validate, booster.raw(_features(params, validate)), outputs.VALIDATE))
    ctx.outputs[0].write(outputs.concat(tables))
    _save(ctx, params, booster)
    summary = {"feature_importance": _importance_by_name(booster), "loss_history": booster.losses,
               "is_converged": booster.converged}
    if validation is not None:
        summary["validation_metrics"] = {validation.kind: validation.history}
    ctx.summary(summary)


def _check_supported(ctx: Context, params: HomoSecureBoostParams) -> None:
    if params.multi_mode == "multi_output":
        raise ComponentError(f"{ctx.component_name}: multi_mode multi_output is not provided yet (use single_output)")


def _check_labelled(ctx: Context, table: Table, key: str) -> None:
    if not table.schema.label:
        raise ComponentError(f"{ctx.component_name}: {key} has no label column at {ctx.role} {ctx.party_id} "
                             "(HomoSecureBoost needs labels at every client: DataTransform with_label)")
    if not table.count():
        raise ComponentError(f"{ctx.component_name}: {key} is empty at {ctx.role} {ctx.party_id}")


def _aligned(ctx: Context, table: Table, header: list[str]) -> Table:
    """``table`` read through the model's features, in the model's order."""
    missing = [name for name in header if name not in table.schema.header]
    if missing:
        raise ComponentError(f"{ctx.component_name}: the data lacks the model's features {missing[:10]} "
                             f"at {ctx.role} {ctx.party_id}")
    return table if list(table.schema.header) == header else table.with_schema(table.schema.with_header(header))


def _setup(ctx: Context, params: HomoSecureBoostParams, agg: SumClient, x: np.ndarray, y: np.ndarray,
           header: list[str], warm: Booster | None) -> list:
    """Tell the arbiter what must agree across clients; the union of the label classes (empty: regression)."""
    local = [] if params.task_type == "regression" else sorted({_class_value(v) for v in np.unique(y).tolist()})
    start = len(warm.trees) // warm.tree_dim if warm is not None else 0
    ctx.arbiter.put("setup", {"features": x.shape[1], "header_digest": _digest(header), "start_round": start,
                              "num_trees": params.num_trees, "classes": local, "warm": warm is not None})
    agg.send(ctx, "rows", np.array([float(len(x))]))
    classes = ctx.arbiter.get("classes")
    if not isinstance(classes, list) or not set(local) <= set(classes):
        raise ComponentError("the arbiter sent malformed label classes")
    if params.task_type == "classification" and len(classes) < 2:
        raise ComponentError(f"{ctx.component_name}: the clients' labels hold one class only ({classes})")
    if warm is not None and [str(c) for c in classes] != [str(c) for c in warm.classes]:
        raise ComponentError(f"{ctx.component_name}: the warm-start model was trained on classes {warm.classes}, "
                             f"the clients' labels hold {classes}")
    return classes


def _digest(header: list[str]) -> str:
    return hashlib.sha256("\x00".join(header).encode()).hexdigest()


def _fit(ctx: Context, params: HomoSecureBoostParams, x: np.ndarray, y: np.ndarray, weights: np.ndarray | None,
         header: list[str], warm: Booster | None = None, validation: Validation | None = None) -> Booster:
    """A client's training in the session at ``ctx`` (the arbiter runs ``_arbitrate`` at the same tag)."""
    agg = SumClient(ctx)
    classes = _setup(ctx, params, agg, x, y, header, warm)
    objective = _objective(params)
    # classification labels become indices into the union of the classes (FATE's HomoLabelEncoder mapping)
    targets = (np.searchsorted(np.asarray(classes, dtype=np.float64), y) if classes else y).astype(np.float64)
    tree_dim = 1 if len(classes) <= 2 else len(classes)
    if warm is not None and warm.tree_dim != tree_dim:
        raise ComponentError(f"{ctx.component_name}: the warm-start model has another number of classes")
    if warm is not None:
        booster = warm
        points = booster.points
    else:
        # FATE's homo boosting starts every client at 0 (regression too), so that all share one init score
        booster = Booster(objective, params.learning_rate, tree_dim, np.zeros(tree_dim), classes, header, [])
        points = booster.points = client_binning(ctx, agg, x)
    ctx.arbiter.put("bins", [int(p.size) for p in points])
    raw = booster.raw(x)
    width = max([p.size for p in points] + [1])
    grower = ClientGrower(agg, bin_with_missing(x, points), points, width, params.tree_param.max_depth, ctx.role)
    for epoch in range(len(booster.trees) // tree_dim, params.num_trees):
        round_ctx = ctx.child("round", epoch)
        g, h = objective.grad_hess(targets, raw)
        if weights is not None:
            g, h = g * weights[:, None], h * weights[:, None]
        for dim in range(tree_dim):
            grown = grower.grow(round_ctx.child("dim", dim), g[:, dim], h[:, dim])
            booster.trees.append(grown.tree)
            raw[:, dim] += booster.learning_rate * np.array([n.weight for n in grown.tree.nodes])[grown.leaf_of]
            for fid, gain in grown.gains:
                entry = booster.importance.setdefault(fid, [0.0, 0.0])
                entry[0] += 1
                entry[1] += gain
        loss = objective.loss(targets, raw, weights)
        booster.losses.append(loss)
        agg.send(round_ctx, "loss", np.array([loss * len(x)]))
        converged = round_ctx.arbiter.get("converged")
        if not isinstance(converged, bool):
            raise ComponentError("the arbiter sent a malformed convergence flag")
        if validation is not None and validation.due(epoch):
            validation.check(booster)
        if converged:
            booster.converged = True
            break
    return booster


# -- validation during training ---------------------------------------------------------------------------------
class Validation:
    """FATE's PerformanceEvaluate for homo boosting, at each client on its own data: every
    ``validation_freqs`` rounds, the metrics of the model so far on the validate data (the train data without
    one). Early stopping is not applied (each client would decide alone)."""

    def __init__(self, params: HomoSecureBoostParams, table: Table, kind: str):
        callback = params.callback_param
        self.freqs, self.metrics, self.kind = callback.validation_freqs, list(callback.metrics), kind
        self.table, self.x = table, _features(params, table)
        self.history: dict[str, list[float]] = {}

    @classmethod
    def of(cls, params: HomoSecureBoostParams, train: Table, validate: Table | None) -> Validation | None:
        """The validation a conf asks for, if any."""
        if params.callback_param.validation_freqs is None:
            return None
        return cls(params, validate if validate is not None else train, "validate" if validate is not None
                   else "train")

    def due(self, epoch: int) -> bool:
        """Whether round ``epoch`` is validated."""
        if isinstance(self.freqs, int):
            return (epoch + 1) % self.freqs == 0
        return epoch in self.freqs

    def check(self, booster: Booster) -> None:
        """Record the metrics of the model so far."""
        for metric, value in _scores(booster, self.table, booster.raw(self.x), self.metrics).items():
            self.history.setdefault(metric, []).append(float(value))


def _scores(booster: Booster, table: Table, raw: np.ndarray, metrics: list[str]) -> dict[str, float]:
    labels = table.labels()
    predicted = booster.objective.predict(raw)
    try:
        if not booster.classes:
            return validation_scores("regression", metrics, labels, predicted)
        if len(booster.classes) == 2:
            truth = (labels == float(booster.classes[1])).astype(float)
            return validation_scores("binary", metrics, truth, predicted)
        best = np.asarray(booster.classes)[predicted.argmax(axis=1)]
        return validation_scores("multi", metrics, labels, predicted.max(axis=1), predicted=best)
    except ValueError:  # e.g. a fold whose labels hold one class: no metric to give
        return {}


# -- outputs ----------------------------------------------------------------------------------------------------
def _prediction(ctx: Context, booster: Booster, table: Table, raw: np.ndarray, kind: str,
                sids: np.ndarray | None = None) -> Table:
    labels = table.column(table.schema.label) if table.schema.label else None
    ids, sid = (table.sids() if sids is None else sids), table.schema.sid
    predicted = booster.objective.predict(raw)
    if not booster.classes:
        return outputs.regression_output(ids, labels, predicted, kind, sid)
    names = [str(c) for c in booster.classes]
    if len(names) == 2:
        return outputs.binary_output(ids, labels, predicted, ctx.params.predict_param.threshold, kind, names, sid)
    return outputs.multi_output(ids, labels, predicted, names, kind, sid)


def _feature_importances(ctx: Context, booster: Booster) -> list[dict]:
    rows = [{"sitename": ctx.role, "fid": fid, "fullname": booster.header[fid], "importance": count,
             "importance2": gain, "main": "split"} for fid, (count, gain) in booster.importance.items()]
    return sorted(rows, key=lambda row: -row["importance"])


def _importance_by_name(booster: Booster) -> dict[str, float]:
    return {booster.header[fid]: count for fid, (count, _) in sorted(booster.importance.items(),
                                                                     key=lambda kv: -kv[1][0])}


def _save(ctx: Context, params: HomoSecureBoostParams, booster: Booster) -> None:
    param = {
        "tree_num": len(booster.trees), "trees_": [t.to_dict() for t in booster.trees],
        "init_score": booster.init_score.tolist(), "losses": booster.losses, "tree_dim": booster.tree_dim,
        "num_classes": len(booster.classes) if booster.classes else 1,
        "classes_": [str(c) for c in booster.classes], "feature_importances": _feature_importances(ctx, booster),
        "feature_name_fid_mapping": {str(i): name for i, name in enumerate(booster.header)},
        "best_iteration": -1, "tree_plan": [], "model_name": MODEL_NAME, "header": booster.header,
        "split_points": [p.tolist() for p in booster.points], "objective": booster.objective.name,
        "objective_param": booster.objective.param, "learning_rate": booster.learning_rate,
        "is_converged": booster.converged}
    meta = {"module": ctx.module, "learning_rate": booster.learning_rate, "num_trees": params.num_trees,
            "quantile_meta": {"bin_num": params.bin_num}, "task_type": params.task_type,
            "objective_meta": {"objective": booster.objective.name,
                               "param": [booster.objective.param] if booster.objective.param else []},
            "tree_meta": {"criterion_meta": {"criterion_method": "xgboost",
                                             "criterion_param": list(params.tree_param.criterion_params)},
                          "max_depth": params.tree_param.max_depth, "use_missing": params.use_missing_values,
                          "zero_as_missing": params.zeros_are_missing},
            "n_iter_no_change": params.n_iter_no_change, "tol": params.tol, "use_missing": params.use_missing_values,
            "zero_as_missing": params.zeros_are_missing, "backend": params.backend,
            "params": params.model_dump(mode="json")}
    ctx.models.save(param=param, meta=meta, alias="model")


def _load(ctx: Context) -> Booster:
    param = ctx.models.load().param
    try:
        if param.get("model_name") != MODEL_NAME:
            raise ValueError(f"model_name is {param.get('model_name')!r}")
        booster = Booster(Objective(str(param["objective"]), param.get("objective_param")),
                          float(param["learning_rate"]), int(param["tree_dim"]),
                          np.asarray(param["init_score"], dtype=np.float64),
                          [_class_value(c) for c in param["classes_"]], [str(h) for h in param["header"]],
                          [np.asarray(p, dtype=np.float64) for p in param["split_points"]],
                          [Tree.from_dict(t) for t in param["trees_"]], [float(v) for v in param["losses"]])
        for row in param.get("feature_importances", []):
            booster.importance[int(row["fid"])] = [float(row["importance"]), float(row["importance2"])]
    except (KeyError, TypeError, ValueError) as exc:
        raise ComponentError(f"{ctx.component_name}: the model is not a HomoSecureBoost model: {exc}") from exc
    if len(booster.points) != len(booster.header) or booster.tree_dim < 1 or booster.init_score.shape != (
            booster.tree_dim,) or len(booster.trees) % booster.tree_dim:
        raise ComponentError(f"{ctx.component_name}: the HomoSecureBoost model is inconsistent")
    return booster


# -- predict and cross validation ------------------------------------------------------------------------------
def _predict(ctx: Context, params: HomoSecureBoostParams) -> None:
    booster = _load(ctx)
    table = _aligned(ctx, ctx.inputs.first("test_data", "data", "validate_data"), booster.header)
    ctx.outputs[0].write(_prediction(ctx, booster, table, booster.raw(_features(params, table)), outputs.TEST))
    ctx.logger.info("%s: scored %d samples", ctx.component_name, table.count())


def _cross_validate(ctx: Context, params: HomoSecureBoostParams, table: Table) -> None:
    """FATE's KFold in homo mode: each client splits its own samples; per fold the parties train on the rest
    and each client scores the held-out part."""
    cv = params.cv_param
    count = table.count()
    x_all, y_all, w_all = _features(params, table), table.labels(), table.weights()
    header = list(table.schema.header)
    predictions, scores = [], {}
    for index, held_out in enumerate(folds(count, cv.n_splits, cv.shuffle, cv.random_seed)):
        kept = np.setdiff1d(np.arange(count), held_out)
        booster = _fit(ctx.child("fold", index), params, x_all[kept], y_all[kept],
                       None if w_all is None else w_all[kept], header)
        test = table.take(held_out)
        raw = booster.raw(x_all[held_out])
        predictions.append(_prediction(ctx, booster, test, raw, outputs.VALIDATE,
                                       np.char.add(test.sids().astype(str), f"#fold{index}")))
        for metric, value in _scores(booster, test, raw, []).items():
            scores.setdefault(metric, []).append(float(value))
    ctx.outputs[0].write(outputs.concat(predictions) if cv.output_fold_history else table)
    ctx.summary({"cv_scores": scores, "n_splits": cv.n_splits})
    for metric, values in scores.items():
        ctx.metrics.scalars("cv", metric, {f"fold_{i}": v for i, v in enumerate(values)})


# -- the arbiter ------------------------------------------------------------------------------------------------
def run_arbiter(ctx: Context) -> None:
    """Arbiter: grow the trees of every training the clients run (per fold in cross validation); nothing to do
    to predict."""
    params: HomoSecureBoostParams = ctx.params
    if ctx.stage == PREDICT:
        return
    if params.cv_param.need_cv:
        summary = {f"fold_{i}": _arbitrate(ctx.child("fold", i), params, f"loss.{i}")
                   for i in range(params.cv_param.n_splits)}
        ctx.summary({**summary, "fold_num": params.cv_param.n_splits})
        return
    ctx.summary(_arbitrate(ctx, params, "loss"))


def _check_setups(setups: list[object]) -> dict:
    """The clients' setups, checked to be well formed and to agree."""
    keys = {"features", "header_digest", "start_round", "num_trees", "classes", "warm"}
    for setup in setups:
        if not isinstance(setup, dict) or set(setup) != keys or not isinstance(setup["classes"], list) \
                or len(setup["classes"]) > MAX_CLASSES \
                or not all(isinstance(c, int | float) and not isinstance(c, bool) for c in setup["classes"]):
            raise ComponentError("a client sent a malformed setup")
        for key in ("features", "start_round", "num_trees"):
            if isinstance(setup[key], bool) or not isinstance(setup[key], int) or not 0 <= setup[key] <= LIMIT:
                raise ComponentError(f"a client sent a bad {key}")
    first = setups[0]
    for key in ("features", "header_digest", "start_round", "num_trees", "warm"):
        if any(s[key] != first[key] for s in setups):
            raise ComponentError(f"the clients disagree on {key} ({[s[key] for s in setups]}): they must have the "
                                 "same features in the same order, and the same model input")
    if first["features"] < 1:
        raise ComponentError("the clients' data has no features")
    return first


def _union(setups: list[dict]) -> list:
    return sorted({c for s in setups for c in s["classes"]})


def _arbitrate(ctx: Context, params: HomoSecureBoostParams, loss_name: str) -> dict:
    """The arbiter's side of ``_fit``: returns its summary."""
    agg = SumServer(ctx)
    setups = agg.at(ctx).get("setup")
    setup = _check_setups(setups)
    total = counts_of(agg.sum(ctx, "rows", (1,)), float(2 ** 40))[0]
    classes = _union(setups)
    if any(s["classes"] for s in setups) and not all(s["classes"] for s in setups):
        raise ComponentError("some clients sent label classes and others none")
    agg.at(ctx).put("classes", classes)
    tree_dim = 1 if len(classes) <= 2 else len(classes)
    points = None if setup["warm"] else arbiter_binning(ctx, agg, setup["features"], params.bin_num, total)
    bins = agg.at(ctx).get("bins")
    if any(b != bins[0] for b in bins) or not isinstance(bins[0], list) or len(bins[0]) != setup["features"] \
            or not all(isinstance(b, int) and 0 <= b <= max(params.bin_num, 1 << 16) for b in bins[0]) \
            or (points is not None and bins[0] != [p.size for p in points]):
        raise ComponentError("the clients' split points disagree")
    grower = ArbiterGrower(agg, bins[0], max(bins[0] + [1]), params.tree_param.max_depth, _criterion(params),
                           params.use_missing_values, total)
    rng = np.random.default_rng(params.random_seed)
    losses: list[float] = []
    converged = False
    for epoch in range(setup["start_round"], setup["num_trees"]):
        round_ctx = ctx.child("round", epoch)
        for dim in range(tree_dim):
            grower.grow(round_ctx.child("dim", dim),
                        choose_features(setup["features"], params.subsample_feature_rate, rng))
        loss = float(agg.sum(round_ctx, "loss", (1,))[0]) / total
        converged = bool(params.n_iter_no_change and losses and abs(losses[-1] - loss) < params.tol)
        losses.append(loss)
        ctx.metrics.loss(epoch, loss, name=loss_name)
        agg.at(round_ctx).put("converged", converged)
        if converged:
            break
    ctx.logger.info("%s: %d rounds, global loss %s", ctx.component_name, len(losses), losses[-1:] or "-")
    return {"loss_history": losses, "is_converged": converged}
