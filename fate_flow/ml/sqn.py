"""FATE's ``sqn`` optimizer (stochastic quasi-Newton, Byrd, Hansen, Nocedal and Singer 2016) for the hetero
linear models: the math the parties share. ``ml.hetero_linear`` says who computes what and what crosses.

The algorithm, as FATE's ``HeteroStochasticQuansiNewton``: batches are counted over the whole training
(``k = 1, 2, ...``). Each party sums the weights every batch starts from; every ``update_interval_L``
batches the sum becomes an average ``w~``, and from the second such window on a curvature pair is formed:
``s = w~_t - w~_(t-1)`` and ``y = H s``, the loss's hessian times ``s`` on ``sample_size`` rows of that
batch (linear models: ``X^T D X s / n``, ``D`` 0.25 for the Taylor logistic loss and 1 for the squared one,
times the sample weights; plus ``alpha s`` for L2). The newest ``memory_M`` pairs are kept. A step is
``w - rate * H g``, ``g`` the penalised gradient and ``H`` the L-BFGS inverse hessian of the pairs
(``H0 = (s.y / y.y) I`` of the newest); before the first pair it is plain sgd.

Split over the parties: every vector is the concatenation of the parties' blocks, and ``H g`` is a linear
combination of ``g`` and the memory's ``s`` and ``y`` whose coefficients depend only on inner products
(vector-free L-BFGS, Chen, Wang and Zhou 2014). Each party keeps its own blocks (:class:`Pairs`) and computes
its share of the inner products; the key holder keeps the inner products summed over the parties
(:class:`Curvature`), computes the coefficients and sends them back; each party combines its own blocks.
Differences from FATE, deliberate: ``s`` is the same vector at every party and in the memory (FATE's
arbiter averages weights one batch later than the parties that compute ``y``); the L2 term of ``y``
leaves the intercept out, as the penalty does; a pair whose ``s.y`` is not positive (``s`` zero on the
sample) is dropped instead of dividing by zero; the sample is exactly ``sample_size`` rows (FATE samples
each row with probability ``sample_size / n``), drawn with ``random_seed`` every time, as FATE's seeded
sample is the same every time.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

HESSIAN_FACTOR = {"logistic": 0.25, "linear": 1.0}  # D of X^T D X: the second derivative of the loss in wx
CURVATURE_FLOOR = 1e-10  # a pair is kept when s.y > CURVATURE_FLOOR * y.y (and y.y > 0)


def curvature_due(batch: int, interval: int) -> bool:
    """Whether a curvature pair is formed after global batch number ``batch`` (1-based): at the end of every
    window of ``interval`` batches but the first (a pair needs two averages)."""
    return batch % interval == 0 and batch // interval >= 2


def sample_rows(rows: np.ndarray, sample_size: int, seed: int | None) -> np.ndarray:
    """The rows of a batch the hessian-vector product is computed on: all of them when the batch is no larger
    than ``sample_size``, else ``sample_size`` of them drawn with ``seed`` (the same draw for the same batch)."""
    rows = np.asarray(rows)
    if sample_size >= len(rows):
        return rows
    return np.sort(np.random.default_rng(seed).choice(rows, size=sample_size, replace=False))


@dataclass
class Averages:
    """One party's running average of its weights over windows of ``interval`` batches (FATE's ``w~``)."""

    interval: int
    batches: int = 0
    _total: np.ndarray | None = field(default=None, repr=False)
    _previous: np.ndarray | None = field(default=None, repr=False)

    def add(self, weights: np.ndarray) -> np.ndarray | None:
        """Count a batch that starts from ``weights``; ``s`` (this window's average minus the last) when a
        curvature pair is due after this batch, else None."""
        self.batches += 1
        self._total = weights.copy() if self._total is None else self._total + weights
        if self.batches % self.interval:
            return None
        average, self._total = self._total / self.interval, None
        previous, self._previous = self._previous, average
        due = curvature_due(self.batches, self.interval)
        return average - previous if due and previous is not None else None


@dataclass
class Pairs:
    """One party's blocks of the memory's ``s`` and ``y`` (oldest first, at most ``memory`` pairs)."""

    memory: int
    s: list[np.ndarray] = field(default_factory=list)
    y: list[np.ndarray] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.s)

    def direction_products(self, gradient: np.ndarray) -> np.ndarray:
        """This party's share of ``[s_i . g, y_i . g]`` (``2 len(self)`` values)."""
        return np.concatenate([[s @ gradient for s in self.s], [y @ gradient for y in self.y]])

    def direction(self, gradient: np.ndarray, coefficients: Coefficients) -> np.ndarray:
        """This party's block of ``H g`` from the coefficients the key holder computed."""
        result = coefficients.g * gradient
        for a, s in zip(coefficients.s, self.s, strict=True):
            result = result + a * s
        for b, y in zip(coefficients.y, self.y, strict=True):
            result = result + b * y
        return result

    def pair_products(self, s: np.ndarray, y: np.ndarray) -> np.ndarray:
        """This party's share of the inner products a new pair adds to the memory, against the memory as it
        would be with the pair: ``[s_i . y_new, y_i . s_new, y_i . y_new]`` (``3 k'`` values, the new pair
        last in each block)."""
        kept_s, kept_y = self._with(s, y)
        return np.concatenate([[si @ y for si in kept_s], [yi @ s for yi in kept_y], [yi @ y for yi in kept_y]])

    def add(self, s: np.ndarray, y: np.ndarray) -> None:
        """Keep the pair (dropping the oldest when full)."""
        self.s, self.y = self._with(s, y)

    def _with(self, s: np.ndarray, y: np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray]]:
        return [*self.s, s][-self.memory:], [*self.y, y][-self.memory:]


@dataclass(frozen=True)
class Coefficients:
    """``H g = g_coef * g + sum s_coef_i s_i + sum y_coef_i y_i``."""

    g: float
    s: tuple[float, ...]
    y: tuple[float, ...]

    def to_wire(self) -> dict:
        """Plain values the codec carries."""
        return {"g": self.g, "s": list(self.s), "y": list(self.y)}

    @classmethod
    def from_wire(cls, obj: object, pairs: int) -> Coefficients:
        """The coefficients the key holder sent, checked to be finite and one per pair."""
        if not isinstance(obj, dict) or set(obj) != {"g", "s", "y"}:
            raise ValueError("the coefficients are a dict of 'g', 's' and 'y'")
        g, s, y = obj["g"], obj["s"], obj["y"]
        if not isinstance(s, list) or not isinstance(y, list) or len(s) != pairs or len(y) != pairs:
            raise ValueError(f"expected {pairs} coefficients of s and of y")
        values = np.asarray([g, *s, *y], dtype=np.float64)
        if not np.all(np.isfinite(values)):
            raise ValueError("the coefficients are not finite")
        return cls(float(values[0]), tuple(map(float, values[1:1 + pairs])), tuple(map(float, values[1 + pairs:])))


@dataclass
class Curvature:
    """What the key holder keeps: the memory's inner products summed over the parties, ``sy[i, j] = s_i . y_j``
    and ``yy[i, j] = y_i . y_j`` (oldest first, at most ``memory`` pairs)."""

    memory: int
    sy: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    yy: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))

    def __len__(self) -> int:
        return len(self.sy)

    def add(self, products: np.ndarray) -> bool:
        """Take a new pair's inner products (the sum of the parties' :meth:`Pairs.pair_products`); False, and
        nothing kept, when the pair fails the curvature condition."""
        size = min(len(self) + 1, self.memory)
        products = np.asarray(products, dtype=np.float64)
        if products.shape != (3 * size,):
            raise ValueError(f"expected {3 * size} inner products, got {products.shape}")
        s_y_new, y_s_new, y_y_new = products[:size], products[size:2 * size], products[2 * size:]
        sy_last, yy_last = s_y_new[-1], y_y_new[-1]
        if not (np.all(np.isfinite(products)) and yy_last > 0 and sy_last > CURVATURE_FLOOR * yy_last):
            return False
        keep = size - 1  # the old pairs that stay
        sy, yy = np.zeros((size, size)), np.zeros((size, size))
        sy[:keep, :keep] = self.sy[len(self) - keep:, len(self) - keep:]
        yy[:keep, :keep] = self.yy[len(self) - keep:, len(self) - keep:]
        sy[:, -1], sy[-1, :] = s_y_new, y_s_new
        yy[:, -1], yy[-1, :] = y_y_new, y_y_new
        self.sy, self.yy = sy, yy
        return True

    def coefficients(self, products: np.ndarray) -> Coefficients:
        """The two-loop recursion in coefficient space, from the summed ``[s_i . g, y_i . g]``."""
        k = len(self)
        products = np.asarray(products, dtype=np.float64)
        if products.shape != (2 * k,) or not np.all(np.isfinite(products)):
            raise ValueError(f"expected {2 * k} finite inner products")
        sg, yg = products[:k], products[k:]
        rho = 1.0 / np.diag(self.sy)
        alpha = np.zeros(k)
        for i in reversed(range(k)):  # q = g - sum_(j>i) alpha_j y_j
            alpha[i] = rho[i] * (sg[i] - self.sy[i, i + 1:] @ alpha[i + 1:])
        gamma = self.sy[-1, -1] / self.yy[-1, -1]
        s_coef = np.zeros(k)
        for i in range(k):  # r = gamma q + sum_(j<i) s_coef_j s_j
            y_r = gamma * (yg[i] - self.yy[i] @ alpha) + self.sy[:i, i] @ s_coef[:i]
            s_coef[i] = alpha[i] - rho[i] * y_r
        return Coefficients(float(gamma), tuple(map(float, s_coef)), tuple(map(float, -gamma * alpha)))


def two_loop(s: list[np.ndarray], y: list[np.ndarray], gradient: np.ndarray) -> np.ndarray:
    """``H g`` by the classic two-loop recursion on whole vectors (one party holding everything): what
    :meth:`Curvature.coefficients` with :meth:`Pairs.direction` computes across parties."""
    q, alphas = gradient.astype(np.float64).copy(), []
    for si, yi in zip(reversed(s), reversed(y), strict=True):
        alpha = (si @ q) / (si @ yi)
        q -= alpha * yi
        alphas.append(alpha)
    r = (s[-1] @ y[-1]) / (y[-1] @ y[-1]) * q if s else q
    for si, yi, alpha in zip(s, y, reversed(alphas), strict=True):
        r += (alpha - (yi @ r) / (si @ yi)) * si
    return r
