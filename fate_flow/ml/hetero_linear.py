"""The three parties' loops of the hetero linear models (``ml.glm`` says what is computed, this module when and
by whom). Every exchange happens in a sub-context (``iter.k/batch.b``), so nothing of one batch can be read
as another's. The guest announces the protocol (``protocol``); LR and LinR with one host, no sample weights
and no sqn run each batch under the parties' own keys (``ml.hetero_linear_party_keys``: the same loops, under
half the encryption cost); the rest under the arbiter's key, as below.

Guest:   per batch  hosts -> forward pieces; -> hosts residual; -> arbiter masked gradient (and loss)
Host:    per batch  -> guest forward pieces; guest -> residual; -> arbiter masked gradient
Arbiter: per batch  decrypts masked gradients (and the loss); per iteration decides convergence
After each iteration the arbiter says whether the loss converged; the guest (which alone can validate)
says whether to stop.

sqn (``ml.sqn``) adds, in a batch's sub-context ``sqn.direction`` once the memory holds a pair: every host
encrypts its share of the inner products ``[s_i . g, y_i . g]`` for the guest; the guest adds them up
with its own share (ciphertexts it cannot read, its share added in) and sends the sum to the arbiter, which
decrypts the sum, computes the L-BFGS coefficients and sends them to every party; each party steps along
its own block of ``H g``. In ``sqn.curvature``, every ``update_interval_L`` batches: the guest picks the
sample rows (positions in the batch); every host sends ``[[X_h s_h]]`` on them encrypted with fresh
randomness; the guest forms ``[[D (X s)]]``, rerandomized, for the hosts; every party computes its
``[[X^T D X s]] / n``, has the arbiter decrypt it under a one-time mask (as its gradient) and adds the L2
term; the parties' shares of the new pair's inner products are summed as above; the arbiter keeps the sums
and says whether the pair is kept. So the arbiter sees inner products summed over all parties, never a
party's vector or share; a host sees the guest's sample positions, encrypted values and the coefficients;
the guest sees the hosts' values encrypted only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from fate_flow.errors import ComponentError
from fate_flow.framework.context import Context
from fate_flow.ml import masking
from fate_flow.ml.batch import batch_indices, largest_batch
from fate_flow.ml.glm import Family, add_pieces, decode_pieces
from fate_flow.ml.hetero_linear_party_keys import (
    ARBITER_KEY,
    PARTY_KEYS,
    applies,
    arbiter_loss,
    checked_protocol,
    checked_vector,
    exchange_keys,
    guest_batch,
    host_batch,
    peer_public_key,
)
from fate_flow.ml.optim import Optimizer, converged, initial_weights
from fate_flow.ml.paillier import (
    EncryptedVector,
    ObfuscatorPool,
    PrivateKey,
    PublicKey,
    generate_keypair,
    prepare_blinding,
)
from fate_flow.ml.sqn import HESSIAN_FACTOR, Averages, Coefficients, Curvature, Pairs, curvature_due, sample_rows
from fate_flow.ml.timings import Timings


@dataclass(frozen=True)
class Settings:
    """A linear model's training settings, from its typed parameters."""

    max_iter: int
    batch_size: int
    batch_strategy: str
    shuffle: bool
    early_stop: str
    tol: float
    optimizer: str
    learning_rate: float
    alpha: float
    penalty: str
    decay: float
    decay_sqrt: bool
    init_method: str
    init_const: float
    fit_intercept: bool
    random_seed: int | None
    key_length: int
    validation_freqs: int | list[int] | None = None
    early_stopping_rounds: int | None = None
    sqn_interval: int = 3  # sqn_param: update_interval_L, memory_M, sample_size, random_seed
    sqn_memory: int = 5
    sqn_sample_size: int = 5000
    sqn_seed: int | None = None

    @classmethod
    def of(cls, params: Any) -> Settings:
        """From a LinearModelParams instance."""
        init, callback = params.init_param, params.callback_param
        sqn = getattr(params, "sqn_param", None)
        sqn_settings = {} if sqn is None else {"sqn_interval": sqn.update_interval_L, "sqn_memory": sqn.memory_M,
                                                "sqn_sample_size": sqn.sample_size, "sqn_seed": sqn.random_seed}
        return cls(max_iter=params.max_iter, batch_size=params.batch_size,
                   batch_strategy=getattr(params, "batch_strategy", "full"), shuffle=getattr(params, "shuffle", False),
                   early_stop=params.early_stop, tol=params.tol, optimizer=params.optimizer,
                   learning_rate=params.learning_rate, alpha=params.alpha, penalty=params.penalty,
                   decay=params.decay, decay_sqrt=params.decay_sqrt, init_method=init.init_method,
                   init_const=init.init_const, fit_intercept=init.fit_intercept, random_seed=init.random_seed,
                   key_length=params.encrypt_param.key_length, validation_freqs=callback.validation_freqs,
                   early_stopping_rounds=callback.early_stopping_rounds, **sqn_settings)

    def optimizer_for(self, fit_intercept: bool) -> Optimizer:
        """A fresh optimizer for one party's weights."""
        return Optimizer(self.optimizer, self.learning_rate, self.alpha, self.penalty, self.decay,
                         self.decay_sqrt, fit_intercept)

    def validates_at(self, iteration: int) -> bool:
        """Whether validation runs after ``iteration`` (0-based), as FATE's validation_freqs says."""
        freqs = self.validation_freqs
        if freqs is None:
            return False
        if isinstance(freqs, int):
            return (iteration + 1) % freqs == 0 or iteration + 1 == self.max_iter
        return iteration + 1 in freqs


@dataclass
class Fit:
    """What one party learnt: its weights (the intercept last at the guest when fitted) and the history."""

    weights: np.ndarray
    iterations: int = 0
    converged: bool = False
    loss_history: list[float] = field(default_factory=list)
    validation: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    best_iteration: int = -1


Validator = Callable[[Context, int, np.ndarray], bool]  # (ctx, iteration, weights) -> stop early?


def _with_intercept(x: np.ndarray) -> np.ndarray:
    return np.hstack([x, np.ones((x.shape[0], 1))])


def _start(settings: Settings, size: int, initial: np.ndarray | None) -> np.ndarray:
    if initial is not None:
        if len(initial) != size:
            raise ComponentError(f"the warm-start model has {len(initial)} weights, the data needs {size}")
        return np.asarray(initial, dtype=np.float64).copy()
    return initial_weights(settings.init_method, size, settings.init_const, settings.random_seed)


def _step_with_arbiter(ctx: Context, public: PublicKey, gradient: EncryptedVector,
                       pool: ObfuscatorPool | None = None) -> np.ndarray:
    """The plain gradient (or hessian-vector product), decrypted by the arbiter under a mask only this party
    knows, and under uniform fresh randomness (obfuscators from ``pool``): the arbiter can recover the
    randomness of what it decrypts, and that of ``X^T [[d]]`` as computed would show it which columns are zero
    or equal in the batch."""
    masked, secret = masking.hide(public, gradient.rerandomize_uniform(ctx.cores, pool=pool))
    ctx.arbiter.put("masked_gradient", masked)
    return masking.recover(public, secret, ctx.arbiter.get("revealed"))


@dataclass
class _PartySqn:
    """One party's sqn state: the averages of its weights and its blocks of the memory's pairs."""

    settings: Settings
    averages: Averages
    pairs: Pairs

    @classmethod
    def of(cls, settings: Settings) -> _PartySqn | None:
        """The state for ``settings``, None for the other optimizers."""
        if settings.optimizer != "sqn":
            return None
        return cls(settings, Averages(settings.sqn_interval), Pairs(settings.sqn_memory))


def _coefficients(ctx: Context, pairs: int) -> Coefficients:
    try:
        return Coefficients.from_wire(ctx.arbiter.get("coefficients"), pairs)
    except ValueError as exc:
        raise ComponentError(f"the arbiter sent bad sqn coefficients: {exc}") from None


def _kept(ctx: Context) -> bool:
    kept = ctx.arbiter.get("kept")
    if not isinstance(kept, bool):
        raise ComponentError(f"the arbiter sent a bad curvature answer: {kept!r}")
    return kept


# -- guest ---------------------------------------------------------------------------------------------------------
def guest_fit(ctx: Context, family: Family, x: np.ndarray, y: np.ndarray, weights: np.ndarray | None,
              settings: Settings, initial: np.ndarray | None = None, offset: np.ndarray | None = None,
              validator: Validator | None = None) -> Fit:
    """Train the guest's weights (intercept last when fitted) with the hosts and the arbiter."""
    design = _with_intercept(x) if settings.fit_intercept else x
    w = _start(settings, design.shape[1], initial)
    optimizer = settings.optimizer_for(settings.fit_intercept)
    fit = Fit(weights=w)
    timings = Timings("hetero linear")
    largest = largest_batch(len(y), settings.batch_size)
    protocol = PARTY_KEYS if applies(family, len(ctx.hosts), weights is not None, settings.optimizer) else ARBITER_KEY
    ctx.hosts.put("protocol", protocol)
    ctx.arbiter.put("protocol", protocol)
    if protocol == PARTY_KEYS:
        keys = exchange_keys(ctx.hosts[0], settings.key_length)
        ctx.arbiter.put("public_key", keys.private.public.to_wire())  # the arbiter unmasks the loss under it
        # the fresh randomness of the guest's part of the residual, a batch's worth made ahead
        pool = ObfuscatorPool(keys.private, capacity=largest + 1)
        per_iteration = len(y) + -(-len(y) // max(1, largest))  # the residual parts, a loss part per batch

        def run_batch(batch: Context, rows: np.ndarray, w: np.ndarray) -> np.ndarray:
            return optimizer.step(w, guest_batch(batch, family, keys, design[rows], y[rows], w, timings, pool))
    else:
        pool, per_iteration, run_batch = _guest_under_arbiter_key(ctx, family, design, y, weights, offset, settings,
                                                                  optimizer, timings)
    with pool:
        for iteration in range(settings.max_iter):
            optimizer.iteration = iteration
            pool.expect((settings.max_iter - iteration) * per_iteration)
            with ctx.sub("iter", iteration) as step:
                batches = batch_indices(len(y), settings.batch_size, settings.batch_strategy, settings.shuffle,
                                        settings.random_seed, iteration)
                step.hosts.put("batches", batches)
                step.arbiter.put("batch_count", len(batches))
                before = w.copy()
                for number, rows in enumerate(batches):
                    with step.sub("batch", number) as batch:
                        w = run_batch(batch, rows, w)
                step.arbiter.put("penalty", optimizer.penalty_loss(w))
                step.arbiter.put("step_norm", float(np.sum((w - before) ** 2)))
                with timings.phase("sync"):
                    fit.converged = bool(step.arbiter.get("converged"))
                stop = fit.converged
                due = validator is not None and settings.validates_at(iteration)
                step.hosts.put("validate", due)
                if due:
                    stop = validator(step, iteration, w) or stop
                step.hosts.put("stop", stop)
                step.arbiter.put("stop", stop)
            fit.weights, fit.iterations = w, iteration + 1
            if stop:
                break
    timings.log(ctx, "guest", pool)
    return fit


BatchStep = Callable[[Context, np.ndarray, np.ndarray], np.ndarray]  # (batch ctx, rows, weights) -> new weights


def _guest_under_arbiter_key(ctx: Context, family: Family, design: np.ndarray, y: np.ndarray,
                             weights: np.ndarray | None, offset: np.ndarray | None, settings: Settings,
                             optimizer: Optimizer, timings: Timings) -> tuple[ObfuscatorPool, int, BatchStep]:
    """The guest's set-up under the arbiter's key: its obfuscator pool, the obfuscators an iteration takes, and
    the batch step."""
    public = PublicKey.from_wire(ctx.arbiter.get("public_key"))
    prepare_blinding(public, ctx.cores)  # for the masked gradients (and residuals) made uniformly random
    one_host = len(ctx.hosts) == 1
    sqn = _PartySqn.of(settings)
    if one_host and family.labels_at_host:
        with timings.phase("encrypt"):
            labels = public.encrypt(y if weights is None else y * weights, ctx.cores)
        ctx.hosts.put("encrypted_labels", labels.to_wire())
    # the fresh randomness of the residuals, masked gradients and losses, a batch's worth made ahead while the
    # guest waits for the others
    largest = largest_batch(len(y), settings.batch_size)
    to_arbiter = design.shape[1] + one_host  # the gradient's values and the loss, per batch
    per_iteration = len(y) + to_arbiter * -(-len(y) // max(1, largest))
    pool = ObfuscatorPool(public, capacity=largest + to_arbiter)

    def run_batch(batch: Context, rows: np.ndarray, w: np.ndarray) -> np.ndarray:
        return _guest_batch(batch, family, public, design[rows], y[rows], None if weights is None else weights[rows],
                            None if offset is None else offset[rows], w, optimizer, one_host, timings, pool, sqn)
    return pool, per_iteration, run_batch


def _guest_batch(ctx: Context, family: Family, public: PublicKey, design: np.ndarray, y: np.ndarray,
                 weights: np.ndarray | None, offset: np.ndarray | None, w: np.ndarray, optimizer: Optimizer,
                 one_host: bool, timings: Timings, pool: ObfuscatorPool, sqn: _PartySqn | None = None) -> np.ndarray:
    rows = len(y)
    with timings.phase("waiting"):
        wires = ctx.hosts.get("forward")
    try:
        forwards = [decode_pieces(public, wire, rows) for wire in wires]
    except ValueError as exc:
        raise ComponentError(f"a host sent a bad forward: {exc}") from None
    host = add_pieces(forwards)
    wx_g = design @ w
    with timings.phase("residual"):
        residual = family.residual(host, wx_g, y, weights, offset)
    # fresh randomness before it goes back: a host knows the randomness of its own [[wx_h]], and the residual is
    # that ciphertext times a plain term holding the labels (uniform when the guest's values multiply it)
    with timings.phase("encrypt"):
        uniform = family.multiplies_forwards(weights is not None)
        fresh = (residual.rerandomize_uniform if uniform else residual.rerandomize)(ctx.cores, pool=pool)
    ctx.hosts.put("residual", fresh.to_wire())
    if one_host:
        with timings.phase("loss"):
            loss = family.loss(host, wx_g, y, weights, residual, offset).rerandomize_uniform(pool=pool)
        ctx.arbiter.put("loss", loss.to_wire())
    with timings.phase("gradient"):
        encrypted = residual.rmatmul(design, cores=ctx.cores) * (1.0 / rows)
    with timings.phase("waiting"):
        gradient = _step_with_arbiter(ctx, public, encrypted, pool)
    if sqn is None:
        return optimizer.step(w, gradient)
    s = sqn.averages.add(w)
    with timings.phase("sqn"):
        updated = optimizer.step(w, gradient, lambda g: _guest_direction(ctx, public, sqn.pairs, g))
        if s is not None:
            _guest_curvature(ctx, family, public, sqn, optimizer, design, weights, s)
    return updated


def _sum_to_arbiter(ctx: Context, public: PublicKey, share: np.ndarray) -> None:
    """The hosts' encrypted shares of some inner products plus the guest's own, to the arbiter (the guest
    reads none of the hosts' shares, the arbiter only their sum)."""
    total: EncryptedVector | np.ndarray = share
    for wire in ctx.hosts.get("products"):
        total = checked_vector(public, wire, len(share), "share of inner products", sender="a host") + total
    ctx.arbiter.put("products", total.to_wire())


def _guest_direction(ctx: Context, public: PublicKey, pairs: Pairs, gradient: np.ndarray) -> np.ndarray:
    if not pairs:
        return gradient
    with ctx.sub("sqn", "direction") as sub:
        _sum_to_arbiter(sub, public, pairs.direction_products(gradient))
        return pairs.direction(gradient, _coefficients(sub, len(pairs)))


def _guest_curvature(ctx: Context, family: Family, public: PublicKey, sqn: _PartySqn, optimizer: Optimizer,
                     design: np.ndarray, weights: np.ndarray | None, s: np.ndarray) -> None:
    """A curvature pair: the hessian-vector product on a sample of the batch, with the hosts and the arbiter."""
    with ctx.sub("sqn", "curvature") as sub:
        picked = sample_rows(np.arange(len(design)), sqn.settings.sqn_sample_size, sqn.settings.sqn_seed)
        sub.hosts.put("sample", picked)
        part = design[picked]
        forward: EncryptedVector | np.ndarray = part @ s
        for wire in sub.hosts.get("forward"):
            forward = checked_vector(public, wire, len(picked), "hessian forward", sender="a host") + forward
        forward = forward * HESSIAN_FACTOR[family.name]
        if weights is not None:
            forward = forward.multiply(weights[picked], ctx.cores)
        # fresh randomness before it goes back: a host knows the randomness of its own [[X_h s_h]], and this is
        # that ciphertext times plain terms holding the guest's X_g s_g (uniform when times the sample weights)
        fresh = forward.rerandomize_uniform(ctx.cores) if weights is not None else forward.rerandomize(ctx.cores)
        sub.hosts.put("hessian_forward", fresh.to_wire())
        product = forward.rmatmul(part, cores=ctx.cores) * (1.0 / len(picked))
        y = _step_with_arbiter(sub, public, product) + optimizer.penalty_hessian(s)
        _sum_to_arbiter(sub, public, sqn.pairs.pair_products(s, y))
        if _kept(sub):
            sqn.pairs.add(s, y)


# -- host ----------------------------------------------------------------------------------------------------------
def host_fit(ctx: Context, family: Family, x: np.ndarray, settings: Settings, weighted: bool = False,
             initial: np.ndarray | None = None,
             on_validate: Callable[[Context, np.ndarray], None] | None = None) -> Fit:
    """Train this host's weights (no intercept) with the guest and the arbiter; ``on_validate`` answers the
    guest's validation requests (this host's ``wx`` on the train and validate data)."""
    w = _start(settings, x.shape[1], initial)
    optimizer = settings.optimizer_for(False)
    fit = Fit(weights=w)
    timings = Timings("hetero linear")
    batch_rows = max(1, largest_batch(len(x), settings.batch_size))
    batch_count = -(-len(x) // batch_rows)  # at most: the last batch may be smaller
    allowed = applies(family, len(ctx.hosts), weighted, settings.optimizer)
    if checked_protocol(ctx.guest.get("protocol"), allowed) == PARTY_KEYS:
        keys = exchange_keys(ctx.guest, settings.key_length)
        # the fresh randomness of the forwards, a batch's worth made ahead while the host waits for the others
        pool, per_iteration = ObfuscatorPool(keys.private, capacity=batch_rows), len(x)

        def run_batch(batch: Context, rows: np.ndarray, w: np.ndarray) -> np.ndarray:
            return optimizer.step(w, host_batch(batch, family, keys, x[rows], w, timings, pool))
    else:
        pool, per_iteration, run_batch = _host_under_arbiter_key(ctx, family, x, settings, weighted, optimizer,
                                                                 timings, batch_rows, batch_count)
    with pool:
        for iteration in range(settings.max_iter):
            optimizer.iteration = iteration
            pool.expect((settings.max_iter - iteration) * per_iteration)
            with ctx.sub("iter", iteration) as step:
                batches = _checked_batches(step.guest.get("batches"), len(x))
                before = w.copy()
                for number, rows in enumerate(batches):
                    with step.sub("batch", number) as batch:
                        w = run_batch(batch, rows, w)
                step.arbiter.put("penalty", optimizer.penalty_loss(w))
                step.arbiter.put("step_norm", float(np.sum((w - before) ** 2)))
                fit.converged = bool(step.arbiter.get("converged"))
                if step.guest.get("validate"):
                    if on_validate is None:
                        raise ComponentError("the guest asks for validation this host was not set up for")
                    on_validate(step, w)
                stop = bool(step.guest.get("stop"))
            fit.weights, fit.iterations = w, iteration + 1
            if stop:
                break
    timings.log(ctx, "host", pool)
    return fit


def _host_under_arbiter_key(ctx: Context, family: Family, x: np.ndarray, settings: Settings, weighted: bool,
                            optimizer: Optimizer, timings: Timings, batch_rows: int,
                            batch_count: int) -> tuple[ObfuscatorPool, int, BatchStep]:
    """The host's set-up under the arbiter's key: its obfuscator pool, the obfuscators an iteration takes, and
    the batch step."""
    public = PublicKey.from_wire(ctx.arbiter.get("public_key"))
    with_loss = len(ctx.hosts) == 1
    sqn = _PartySqn.of(settings)
    labels = checked_vector(public, ctx.guest.get("encrypted_labels"), len(x), "encrypted labels") \
        if with_loss and family.labels_at_host else None
    prepare_blinding(public, ctx.cores)  # for the masked gradients (and Poisson's sum_y_wx)
    # the fresh randomness of the forwards and masked gradients, a batch's worth made ahead while the host
    # waits for the others: the forward's values (and sum_y_wx), and the masked gradient's
    per_batch = family.forward_values(batch_rows, with_loss, weighted) + (labels is not None) + x.shape[1]
    pool = ObfuscatorPool(public, capacity=per_batch)

    def run_batch(batch: Context, rows: np.ndarray, w: np.ndarray) -> np.ndarray:
        part = x[rows]
        pieces = family.host_pieces(part @ w, with_loss, weighted)
        with timings.phase("encrypt"):
            forward = {name: public.encrypt(values, ctx.cores, pool=pool).to_wire()
                       for name, values in pieces.items()}
            if labels is not None:  # uniform randomness: the guest knows that of [[y]]
                forward["sum_y_wx"] = labels.take(rows).rmatmul((part @ w).reshape(-1, 1)) \
                    .rerandomize_uniform(pool=pool).to_wire()
        batch.guest.put("forward", forward)
        with timings.phase("waiting"):
            residual = checked_vector(public, batch.guest.get("residual"), len(rows), "residual")
        with timings.phase("gradient"):
            encrypted = residual.rmatmul(part, cores=ctx.cores) * (1.0 / len(rows))
        with timings.phase("waiting"):
            gradient = _step_with_arbiter(batch, public, encrypted, pool)
        return _host_step(batch, public, optimizer, sqn, w, gradient, part, timings)
    return pool, per_batch * batch_count, run_batch


def _host_step(ctx: Context, public: PublicKey, optimizer: Optimizer, sqn: _PartySqn | None, w: np.ndarray,
               gradient: np.ndarray, part: np.ndarray, timings: Timings) -> np.ndarray:
    """The host's weights after the batch's step (and, with sqn, its part of a curvature pair)."""
    if sqn is None:
        return optimizer.step(w, gradient)
    s = sqn.averages.add(w)
    with timings.phase("sqn"):
        updated = optimizer.step(w, gradient, lambda g: _host_direction(ctx, public, sqn.pairs, g))
        if s is not None:
            _host_curvature(ctx, public, sqn.pairs, optimizer, part, s)
    return updated


def _host_direction(ctx: Context, public: PublicKey, pairs: Pairs, gradient: np.ndarray) -> np.ndarray:
    if not pairs:
        return gradient
    with ctx.sub("sqn", "direction") as sub:
        sub.guest.put("products", public.encrypt(pairs.direction_products(gradient), ctx.cores).to_wire())
        return pairs.direction(gradient, _coefficients(sub, len(pairs)))


def _host_curvature(ctx: Context, public: PublicKey, pairs: Pairs, optimizer: Optimizer, part: np.ndarray,
                    s: np.ndarray) -> None:
    with ctx.sub("sqn", "curvature") as sub:
        picked = _checked_batches([sub.guest.get("sample")], len(part))[0]
        sample = part[picked]
        sub.guest.put("forward", public.encrypt(sample @ s, ctx.cores).to_wire())
        forward = checked_vector(public, sub.guest.get("hessian_forward"), len(picked), "hessian forward")
        product = forward.rmatmul(sample, cores=ctx.cores) * (1.0 / len(picked))
        y = _step_with_arbiter(sub, public, product) + optimizer.penalty_hessian(s)
        sub.guest.put("products", public.encrypt(pairs.pair_products(s, y), ctx.cores).to_wire())
        if _kept(sub):
            pairs.add(s, y)


def _checked_batches(batches: Any, rows: int) -> list[np.ndarray]:
    if not isinstance(batches, list) or not batches:
        raise ComponentError("the guest sent no batches")
    checked = []
    for rows_of_batch in batches:
        array = np.asarray(rows_of_batch)
        if array.dtype.kind not in "iu" or array.ndim != 1 or (array.size and (array.min() < 0 or array.max() >= rows)):
            raise ComponentError("the guest sent batch rows outside this host's data")
        checked.append(array)
    return checked


# -- arbiter -------------------------------------------------------------------------------------------------------
def arbiter_fit(ctx: Context, settings: Settings) -> Fit:
    """Decide convergence and record the loss curve; under the arbiter's key also hold the key and decrypt
    the masked gradients and the loss."""
    timings = Timings("hetero linear")
    announced = ctx.guest.get("protocol")
    if checked_protocol(announced, len(ctx.hosts) == 1 and settings.optimizer != "sqn") == PARTY_KEYS:
        guest_key = peer_public_key(ctx.guest, settings.key_length)

        def batch_losses(batch: Context) -> list[float]:
            return [arbiter_loss(batch, guest_key)]
    else:
        batch_losses = _arbiter_key_holder(ctx, settings, timings)
    fit = Fit(weights=np.zeros(0))
    previous: float | None = None
    for iteration in range(settings.max_iter):
        with ctx.sub("iter", iteration) as step:
            losses = []
            for number in range(_batch_count(step)):
                with step.sub("batch", number) as batch:
                    losses.extend(batch_losses(batch))
            penalties = [float(p) for p in (step.guest.get("penalty"), *step.hosts.get("penalty"))]
            norms = [float(n) for n in (step.guest.get("step_norm"), *step.hosts.get("step_norm"))]
            loss = float(np.mean(losses)) + sum(penalties) if losses else None
            done = converged(settings.early_stop, settings.tol, loss, previous, float(np.sqrt(sum(norms))))
            step.guest.put("converged", done)
            step.hosts.put("converged", done)
            stop = bool(step.guest.get("stop"))
        if loss is not None:
            fit.loss_history.append(loss)
            ctx.metrics.loss(iteration, loss)
            previous = loss
        fit.iterations, fit.converged = iteration + 1, done
        if stop:
            break
    timings.log(ctx, "arbiter")
    return fit


def _arbiter_key_holder(ctx: Context, settings: Settings, timings: Timings) -> Callable[[Context], list[float]]:
    """Under the arbiter's key: a fresh key pair sent to the parties, and the batch step that decrypts the
    masked gradients (and sqn's products) and returns the batch's loss (one host) or nothing."""
    public, private = generate_keypair(settings.key_length)
    ctx.guest.put("public_key", public.to_wire())
    ctx.hosts.put("public_key", public.to_wire())
    curvature = Curvature(settings.sqn_memory) if settings.optimizer == "sqn" else None
    batches = 0

    def batch_losses(batch: Context) -> list[float]:
        nonlocal batches
        for party in (batch.guest, *batch.hosts):
            with timings.phase("waiting"):
                masked = party.get("masked_gradient")
            with timings.phase("decrypt"):
                party.put("revealed", masking.reveal(private, masked, ctx.cores))
        losses = [masking.decrypt_scalar(private, batch.guest.get("loss"))] if len(ctx.hosts) == 1 else []
        if curvature is not None:
            batches += 1
            with timings.phase("sqn"):
                _arbiter_sqn(batch, private, curvature, curvature_due(batches, settings.sqn_interval))
        return losses
    return batch_losses


def _arbiter_sqn(batch: Context, private: PrivateKey, curvature: Curvature, due: bool) -> None:
    """The arbiter's part of a batch of sqn: the coefficients of the step's direction, and a curvature pair."""
    if len(curvature):
        with batch.sub("sqn", "direction") as sub:
            coefficients = curvature.coefficients(_decrypt_sum(sub, private, 2 * len(curvature))).to_wire()
            sub.guest.put("coefficients", coefficients)
            sub.hosts.put("coefficients", coefficients)
    if due:
        with batch.sub("sqn", "curvature") as sub:
            for party in (sub.guest, *sub.hosts):  # the hessian-vector products, masked as the gradients
                party.put("revealed", masking.reveal(private, party.get("masked_gradient"), batch.cores))
            size = min(len(curvature) + 1, curvature.memory)
            kept = curvature.add(_decrypt_sum(sub, private, 3 * size))
            sub.guest.put("kept", kept)
            sub.hosts.put("kept", kept)


def _decrypt_sum(ctx: Context, private: PrivateKey, length: int) -> np.ndarray:
    """The inner products summed over the parties, which the guest sends encrypted."""
    try:
        vector = EncryptedVector.from_wire(private.public, ctx.guest.get("products"))
        if len(vector) != length:
            raise ValueError(f"{len(vector)} values, {length} expected")
        return private.decrypt(vector, ctx.cores)
    except ValueError as exc:
        raise ComponentError(f"the guest sent bad sqn inner products: {exc}") from None


def _batch_count(step: Context) -> int:
    """How many batches this iteration has: the guest tells (the arbiter does not see the data)."""
    count = step.guest.get("batch_count")
    if not isinstance(count, int) or not 0 < count <= 1_000_000:
        raise ComponentError(f"the guest sent a bad batch count: {count!r}")
    return count
