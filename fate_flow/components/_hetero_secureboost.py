"""The runner of HeteroSecureBoost (dispatch by role) and the guest's side: bin the features, boost trees
round by round (``fate_flow.ml.hetero_sbt`` grows each), validate, predict, cross-validate, save the model and
summarise as FATE does (docs/fate-secureboost-1.11.md §2.5, §4). The hosts' side is in
``_hetero_secureboost_host``."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from fate_flow.components._hetero_secureboost_host import host_cv, host_predict, host_train
from fate_flow.components._sbt_common import (
    criterion_of,
    features_of,
    leaf_ids,
    max_depth,
    model_name,
    party_data,
    round_plan,
    send_order,
)
from fate_flow.framework import PREDICT, ComponentError, Context, Table
from fate_flow.ml import predict as outputs
from fate_flow.ml.batch import folds
from fate_flow.ml.goss import goss_sample
from fate_flow.ml.hetero_sbt import (
    GrownTree,
    GuestGrower,
    choose_features,
    guest_walk,
)
from fate_flow.ml.paillier import ObfuscatorPool, generate_keypair, key_proof
from fate_flow.ml.sbt_eini import guest_eini
from fate_flow.ml.tree import Objective, Tree
from fate_flow.ml.tree_plan import encode


def run(ctx: Context) -> None:
    """Dispatch on role and stage."""
    params = ctx.params
    if params.strategy == "layered" and len(ctx.roles.get("host", [])) != 1:
        raise ComponentError(f"{ctx.component_name}: the layered strategy takes exactly one host (FATE's rule)")
    if params.multi_mode == "multi_output":
        raise ComponentError(f"{ctx.component_name}: multi_mode multi_output is not provided yet (use single_output)")
    guest = ctx.role == "guest"
    if ctx.stage == PREDICT:
        (_guest_predict if guest else host_predict)(ctx)
    elif params.cv_param.need_cv:
        (_guest_cv if guest else host_cv)(ctx)
    else:
        (_guest_train if guest else host_train)(ctx)


# -- the guest's model -------------------------------------------------------------------------------------------
@dataclass
class Booster:
    """What the guest learns: trees (round-major, ``tree_dim`` per round), the initial score, the classes."""

    objective: Objective
    learning_rate: float
    tree_dim: int
    init_score: np.ndarray
    classes: list
    header: list[str]
    party_id: str
    trees: list[Tree] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)
    importance: dict[tuple[str, int], list[float]] = field(default_factory=dict)
    host_importance: dict[str, float] = field(default_factory=dict)
    best_iteration: int = -1
    converged: bool = False

    def raw_scores(self, positions: np.ndarray, trees: list[Tree] | None = None, first: int = 0) -> np.ndarray:
        """Raw scores from the leaves reached (rows x trees), trees ``first`` onwards added to the init score."""
        trees = self.trees if trees is None else trees
        raw = np.tile(self.init_score, (len(positions), 1)) if first == 0 else np.zeros((len(positions),
                                                                                          self.tree_dim))
        for t, tree in enumerate(trees):
            weights = tree.arrays("").weight
            raw[:, (first + t) % self.tree_dim] += self.learning_rate * weights[positions[:, t]]
        return raw

    def add(self, grown: GrownTree) -> None:
        """Append a grown tree and count its splits (FATE's split importance, the gains beside)."""
        self.trees.append(grown.tree)
        for sitename, fid, gain in grown.gains:
            entry = self.importance.setdefault((sitename, fid), [0.0, 0.0])
            entry[0] += 1
            entry[1] += gain

    def arrays(self, trees: list[Tree] | None = None) -> list:
        """The trees as arrays, with the guest's own splits."""
        return [t.arrays(f"guest:{self.party_id}") for t in (self.trees if trees is None else trees)]


def _classes(y: np.ndarray) -> list:
    classes = [int(c) if float(c).is_integer() else c for c in sorted(np.unique(y).tolist())]
    if len(classes) < 2:
        raise ComponentError(f"the label has a single class ({classes}): nothing to learn")
    return classes


def _targets(params, y: np.ndarray) -> tuple[np.ndarray, list, int]:
    """Labels as the objective reads them (class indices for classification), the classes, tree_dim."""
    if params.task_type == "regression":
        return y.astype(np.float64), [], 1
    classes = _classes(y)
    index = np.searchsorted(np.asarray(classes, dtype=np.float64), y)
    return index.astype(np.float64), classes, 1 if len(classes) == 2 else len(classes)


def _objective(params) -> Objective:
    name = params.objective_param.objective or "cross_entropy"
    values = params.objective_param.params or []
    return Objective(name, float(values[0]) if values and name in ("huber", "fair", "tweedie") else None)


def _bounds(objective: Objective, weights: np.ndarray | None, amplify: float = 1.0
            ) -> tuple[float, float, float] | None:
    """FATE's fixed (g, h) bounds for classification (scaled by the largest sample weight and GOSS's
    amplification), else None: the observed ones."""
    if objective.name != "cross_entropy":
        return None
    top = (float(weights.max()) if weights is not None else 1.0) * amplify
    return -top, top, top


# -- guest: training ---------------------------------------------------------------------------------------------
@dataclass
class Fit:
    """One guest fit's inputs, shared by plain training and each cross-validation fold."""

    x: np.ndarray
    y: np.ndarray
    weights: np.ndarray | None
    header: list[str]


def _guest_fit(ctx: Context, fit: Fit, warm: Booster | None = None, validation: Validation | None = None
               ) -> Booster:
    params = ctx.params
    targets, classes, tree_dim = _targets(params, fit.y)
    objective = _objective(params)
    public, private = generate_keypair(params.encrypt_param.key_length)
    ctx.hosts.put("setup", {"public_key": public.to_wire(), "key_proof": key_proof.prove(private),
                            "tree_dim": tree_dim})
    data = party_data(ctx, fit.x)
    grower = GuestGrower(data, criterion_of(params), max_depth(params), params.use_missing_values,
                         ctx.party_id, private, params.cipher_compress, ctx.cores,
                         [p for _, p in ctx.hosts.parties],
                         host_layers=params.host_depth if params.strategy == "layered" else None)
    if warm is not None:
        booster, start = warm, len(warm.trees) // warm.tree_dim
        if booster.tree_dim != tree_dim:
            raise ComponentError("the warm-start model was trained on other classes")
        raw = booster.raw_scores(guest_walk(ctx.child("warm", 0), booster.arrays(), fit.x))
    else:
        init = objective.init_score(targets, tree_dim, fit.weights)
        booster = Booster(objective, params.learning_rate, tree_dim, init, classes, fit.header, ctx.party_id)
        start, raw = 0, np.tile(init, (len(fit.y), 1))
    columns = 1 if params.cipher_compress else 2
    with ObfuscatorPool(private, capacity=columns * len(fit.y)) as pool:  # the owner's: obfuscators by CRT
        grower.pool = pool
        next_epoch = _boost(ctx, grower, booster, fit, targets, raw, start, validation)
    ctx.child("round", next_epoch).hosts.put("round", {"go": False, "validate": False})
    grower.timings.log(ctx, "guest", grower.pool)
    for importance in ctx.child("round", "end").hosts.get("importance"):
        booster.host_importance.update(_host_importance(importance))
    if validation is not None:
        booster.best_iteration = validation.best_iteration
    return booster


def _boost(ctx: Context, grower: GuestGrower, booster: Booster, fit: Fit, targets: np.ndarray, raw: np.ndarray,
           start: int, validation: Validation | None) -> int:
    """Boosting rounds ``start`` onwards (``raw`` holds the scores so far); the first round not run."""
    params, objective, tree_dim = ctx.params, booster.objective, booster.tree_dim
    columns = 1 if params.cipher_compress else 2
    rng = np.random.default_rng(params.random_seed)
    plan = round_plan(ctx)
    for epoch in range(start, params.num_trees):
        round_ctx = ctx.child("round", epoch)
        validating = validation is not None and validation.due(epoch)
        # the hosts walk the validate data's samples down the new trees (the train data's leaves are known)
        round_ctx.hosts.put("round", {"go": True, "validate": validating and validation.validate is not None})
        g, h = objective.grad_hess(targets, raw)
        if fit.weights is not None:
            g, h = g * fit.weights[:, None], h * fit.weights[:, None]
        use_hosts = plan[epoch].uses_hosts
        amplify = 1.0
        if params.run_goss:  # one sample per round (FATE's) for every class's tree; zeros off the sample
            goss = goss_sample(g, h, params.top_rate, params.other_rate, rng)
            g, h, amplify = goss.g, goss.h, goss.amplify
        for dim in range(tree_dim):
            # the obfuscators the guest makes ahead, while it waits: one per ciphertext still to encrypt
            remaining = sum(r.uses_hosts for r in plan[epoch + 1:]) * tree_dim + (tree_dim - dim) * use_hosts
            grower.pool.expect(remaining * columns * len(targets))
            chosen = choose_features(grower.data.features, params.subsample_feature_rate, rng)
            grown = grower.grow(round_ctx.child("dim", dim), g[:, dim], h[:, dim], use_hosts, chosen,
                                _bounds(objective, fit.weights, amplify), only_host=plan[epoch].host)
            booster.add(grown)
            raw[:, dim] += booster.learning_rate * grown.tree.arrays("").weight[grown.leaf_of]
        loss = objective.loss(targets, raw, fit.weights)
        booster.losses.append(loss)
        ctx.metrics.loss(epoch, loss)
        stop = validating and validation.check(round_ctx, booster, epoch, raw)
        if params.n_iter_no_change and len(booster.losses) > 1 and abs(booster.losses[-2] - loss) < params.tol:
            booster.converged = True
            stop = True
        if stop:
            return epoch + 1
    return max(start, params.num_trees)


def _host_importance(value: object) -> dict[str, float]:
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, (int, float))
                                              for k, v in value.items()):
        raise ComponentError("a host sent a malformed feature importance")
    return {k: float(v) for k, v in value.items()}


def _guest_train(ctx: Context) -> None:
    train = ctx.inputs.first("train_data", "data")
    validate = ctx.inputs.get("validate_data")
    send_order(ctx, "train_order", train)
    ctx.hosts.put("has_validate", validate is not None)
    if validate is not None:
        send_order(ctx, "validate_order", validate)
    fit = Fit(features_of(ctx, train), train.labels(), train.weights(), list(train.schema.header))
    warm = _load_booster(ctx) if ctx.models.available() else None
    validation = Validation.of(ctx, train, validate)
    booster = _guest_fit(ctx, fit, warm, validation)
    tables = [_prediction_table(ctx, booster, train, booster.raw_scores(
        guest_walk(ctx.child("predict", "train"), booster.arrays(), fit.x)), outputs.TRAIN)]
    if validate is not None:
        positions = guest_walk(ctx.child("predict", "validate"), booster.arrays(), features_of(ctx, validate))
        tables.append(_prediction_table(ctx, booster, validate, booster.raw_scores(positions), outputs.VALIDATE))
    ctx.outputs[0].write(outputs.concat(tables))
    _save_guest(ctx, booster)
    ctx.summary(_guest_summary(booster, validation))


def _prediction_table(ctx: Context, booster: Booster, table: Table, raw: np.ndarray, kind: str) -> Table:
    labels = table.column(table.schema.label) if table.schema.label else None
    sids, sid = table.sids(), table.schema.sid
    predicted = booster.objective.predict(raw)
    if not booster.classes:
        return outputs.regression_output(sids, labels, predicted, kind, sid)
    names = [str(c) for c in booster.classes]
    if len(names) == 2:
        return outputs.binary_output(sids, labels, predicted, ctx.params.predict_param.threshold, kind, names, sid)
    return outputs.multi_output(sids, labels, predicted, names, kind, sid)


# -- validation during training ----------------------------------------------------------------------------------
class Validation:
    """FATE's PerformanceEvaluate callback for boosting: every ``validation_freqs`` rounds, the metrics of the
    model so far on the train data and the validate data (when given); ``early_stopping_rounds`` stops boosting
    when the first metric of the validate data (else the train data) has not improved for that many rounds."""

    def __init__(self, ctx: Context, train: Table, validate: Table | None):
        callback = ctx.params.callback_param
        self.freqs = callback.validation_freqs
        self.rounds = callback.early_stopping_rounds
        self.metrics = list(callback.metrics)
        self.train_labels = train.labels()
        self.validate = validate
        self.validate_x = features_of(ctx, validate) if validate is not None else None
        self.validate_raw: np.ndarray | None = None
        self.seen = 0
        self.history: dict[str, dict[str, list[float]]] = {}
        self.best: tuple[float, int] | None = None
        self.best_iteration = -1

    @classmethod
    def of(cls, ctx: Context, train: Table, validate: Table | None) -> Validation | None:
        """The validation a conf asks for, if any."""
        if ctx.params.callback_param.validation_freqs is None:
            return None
        return cls(ctx, train, validate)

    def due(self, epoch: int) -> bool:
        """Whether round ``epoch`` is validated."""
        if isinstance(self.freqs, int):
            return (epoch + 1) % self.freqs == 0
        return epoch in self.freqs

    def check(self, ctx: Context, booster: Booster, epoch: int, train_raw: np.ndarray) -> bool:
        """Validate after round ``epoch`` (``train_raw``: the train data's scores); whether to stop early."""
        self._record("train", booster, self.train_labels, train_raw)
        if self.validate is not None:
            new = booster.trees[self.seen:]
            positions = guest_walk(ctx.child("validate", 0), booster.arrays(new), self.validate_x)
            added = booster.raw_scores(positions, new, first=self.seen)
            start = np.tile(booster.init_score, (len(self.validate_x), 1)) if self.validate_raw is None else \
                self.validate_raw
            self.validate_raw = start + added
            self.seen = len(booster.trees)
            self._record("validate", booster, self.validate.labels(), self.validate_raw)
        return self._should_stop(epoch)

    def _record(self, kind: str, booster: Booster, labels: np.ndarray, raw: np.ndarray) -> None:
        for metric, value in _scores(booster, labels, raw, self.metrics).items():
            self.history.setdefault(kind, {}).setdefault(metric, []).append(float(value))

    def _should_stop(self, epoch: int) -> bool:
        values = self.history.get("validate") or self.history.get("train") or {}
        if not values:
            return False
        name, series = next(iter(values.items()))
        value = series[-1]
        lower_is_better = name in ("mean_squared_error", "root_mean_squared_error", "mean_absolute_error",
                                   "median_absolute_error", "explained_variance")
        if self.best is None or (value < self.best[0] if lower_is_better else value > self.best[0]):
            self.best = (value, epoch)
            self.best_iteration = epoch
            return False
        return self.rounds is not None and epoch - self.best[1] >= self.rounds


def _scores(booster: Booster, labels: np.ndarray, raw: np.ndarray, metrics: list[str]) -> dict[str, float]:
    """FATE's single-value validation metrics of raw scores against labels (the task's eval type)."""
    from fate_flow.ml.metrics import validation_scores

    predicted = booster.objective.predict(raw)
    if not booster.classes:
        return validation_scores("regression", metrics, labels, predicted)
    if len(booster.classes) == 2:
        return validation_scores("binary", metrics, (labels == booster.classes[1]).astype(float), predicted)
    best = np.asarray(booster.classes)[predicted.argmax(axis=1)]
    return validation_scores("multi", metrics, labels, predicted.max(axis=1), predicted=best)


# -- the model files ---------------------------------------------------------------------------------------------
def _feature_importances(booster: Booster) -> list[dict]:
    rows = []
    for (sitename, fid), (count, gain) in booster.importance.items():
        if sitename.startswith("guest:"):
            rows.append({"sitename": sitename, "fid": fid, "fullname": booster.header[fid],
                         "importance": count, "importance2": gain, "main": "split"})
    for name, count in booster.host_importance.items():
        party = name.split("_")[1] if name.count("_") >= 2 else ""
        rows.append({"sitename": f"host:{party}", "fid": -1, "fullname": name, "importance": count,
                     "importance2": 0.0, "main": "split"})
    return sorted(rows, key=lambda row: -row["importance"])


def _save_guest(ctx: Context, booster: Booster) -> None:
    params = ctx.params
    param = {
        "tree_num": len(booster.trees), "trees_": [t.to_dict() for t in booster.trees],
        "init_score": booster.init_score.tolist(), "losses": booster.losses, "tree_dim": booster.tree_dim,
        "num_classes": len(booster.classes) if booster.classes else 1,
        "classes_": [str(c) for c in booster.classes], "feature_importances": _feature_importances(booster),
        "feature_name_fid_mapping": {str(i): name for i, name in enumerate(booster.header)},
        "best_iteration": booster.best_iteration, "model_name": model_name(params),
        "tree_plan": encode(params.strategy, round_plan(ctx), [p for _, p in ctx.hosts.parties]),
        "header": booster.header, "objective": booster.objective.name, "objective_param": booster.objective.param,
        "learning_rate": booster.learning_rate, "is_converged": booster.converged}
    meta = {"module": ctx.module, "learning_rate": booster.learning_rate, "num_trees": params.num_trees,
            "quantile_meta": {"bin_num": params.bin_num}, "task_type": params.task_type,
            "objective_meta": {"objective": booster.objective.name,
                               "param": [booster.objective.param] if booster.objective.param else []},
            "tree_meta": {"criterion_meta": {"criterion_method": "xgboost",
                                             "criterion_param": list(params.tree_param.criterion_params)},
                          "max_depth": max_depth(params), "use_missing": params.use_missing_values,
                          "zero_as_missing": params.zeros_are_missing},
            "n_iter_no_change": params.n_iter_no_change, "tol": params.tol,
            "use_missing": params.use_missing_values, "zero_as_missing": params.zeros_are_missing,
            "boosting_strategy": params.strategy, "params": params.model_dump(mode="json")}
    ctx.models.save(param=param, meta=meta, alias="model")


def _load_booster(ctx: Context) -> Booster:
    param = ctx.models.load().param
    try:
        booster = Booster(Objective(str(param["objective"]), param.get("objective_param")),
                          float(param["learning_rate"]), int(param["tree_dim"]),
                          np.asarray(param["init_score"], dtype=np.float64),
                          [_class_value(c) for c in param["classes_"]], list(param["header"]), ctx.party_id,
                          [Tree.from_dict(t) for t in param["trees_"]], list(param["losses"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise ComponentError(f"the model is not a HeteroSecureBoost guest model: {exc}") from exc
    for row in param.get("feature_importances", []):
        if str(row["sitename"]).startswith("guest:"):
            booster.importance[(str(row["sitename"]), int(row["fid"]))] = [float(row["importance"]),
                                                                           float(row["importance2"])]
        else:
            booster.host_importance[str(row["fullname"])] = float(row["importance"])
    # the loaded trees were grown by this guest: its sitename in them is the one it writes now
    return booster


def _class_value(text: str) -> int | float | str:
    try:
        number = float(text)
    except ValueError:
        return text
    return int(number) if number.is_integer() else number


def _guest_summary(booster: Booster, validation: Validation | None) -> dict:
    importance = {row["fullname"]: row["importance"] for row in _feature_importances(booster)}
    summary = {"loss_history": booster.losses, "best_iteration": booster.best_iteration,
               "feature_importance": importance, "is_converged": booster.converged}
    if validation is not None:
        summary["validation_metrics"] = validation.history
    return summary


# -- guest: predict and cross-validation -------------------------------------------------------------------------
def _guest_predict(ctx: Context) -> None:
    booster = _load_booster(ctx)
    table = ctx.inputs.first("test_data", "data", "validate_data")
    if list(table.schema.header) != booster.header:
        raise ComponentError(f"{ctx.component_name}: the data's features {list(table.schema.header)[:5]}... "
                             "differ from the model's")
    send_order(ctx, "predict_order", table)
    x = features_of(ctx, table)
    if ctx.params.EINI_inference:
        raw = _guest_eini(ctx, booster, x)
    else:
        raw = booster.raw_scores(guest_walk(ctx.child("predict", "test"), booster.arrays(), x))
    ctx.outputs[0].write(_prediction_table(ctx, booster, table, raw, outputs.TEST))


def _guest_eini(ctx: Context, booster: Booster, x: np.ndarray) -> np.ndarray:
    """Raw scores by FATE's EINI inference: each leaf carries its weight times the learning rate and its
    share of the initial score, so the sum over the leaves reached is the raw score."""
    rounds = max(1, len(booster.trees) // booster.tree_dim)
    leaves = [leaf_ids(t) for t in booster.trees]
    dims = [t % booster.tree_dim for t in range(len(booster.trees))]
    values = [booster.learning_rate * tree.arrays("").weight[ids] + booster.init_score[dim] / rounds
              for tree, ids, dim in zip(booster.trees, leaves, dims, strict=True)]
    return guest_eini(ctx.child("predict", "eini"), booster.arrays(), leaves, values, dims, booster.tree_dim, x,
                      ctx.params.encrypt_param.key_length, ctx.cores)


def _guest_cv(ctx: Context) -> None:
    table = ctx.inputs.first("train_data", "data")
    cv = ctx.params.cv_param
    parts = folds(table.count(), cv.n_splits, cv.shuffle, cv.random_seed)
    send_order(ctx, "cv_order", table)
    ctx.hosts.put("folds", parts)
    x_all, y_all, w_all = features_of(ctx, table), table.labels(), table.weights()
    header = list(table.schema.header)
    predictions, scores = [], {}
    for index, held_out in enumerate(parts):
        kept = np.setdiff1d(np.arange(table.count()), held_out)
        fold_ctx = ctx.child("fold", index)
        fit = Fit(x_all[kept], y_all[kept], None if w_all is None else w_all[kept], header)
        booster = _guest_fit(fold_ctx, fit)
        test = table.take(held_out)
        raw = booster.raw_scores(guest_walk(fold_ctx.child("predict", "test"), booster.arrays(), x_all[held_out]))
        predictions.append(_prediction_table(ctx, booster, test, raw, outputs.VALIDATE))
        found = _scores(booster, test.labels(), raw, [])
        for metric, value in found.items():
            scores.setdefault(metric, []).append(float(value))
        for epoch, loss in enumerate(booster.losses):
            ctx.metrics.loss(epoch, loss, name=f"loss.{index}")
    ctx.outputs[0].write(outputs.concat(predictions))
    ctx.summary({"cv_scores": scores, "n_splits": cv.n_splits})
    for metric, values in scores.items():
        ctx.metrics.scalars("cv", metric, {f"fold_{i}": v for i, v in enumerate(values)})
