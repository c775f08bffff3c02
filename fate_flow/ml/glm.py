"""FATE's hetero generalised linear models (LR, LinR, Poisson) with Paillier: three families, two protocols.

LR and LinR with one host and no sample weights run under the parties' own keys
(``ml.hetero_linear_party_keys``, on the additive residual and loss: ``host_factor``, ``guest_part``,
``guest_loss``, ``host_loss_factor``); everything else under the arbiter's key, as follows. The guest holds
the labels and some features, each host other features of the same samples, the arbiter the Paillier key.
Per batch: every host sends its forward pieces encrypted (``[[wx_h]]``, and what the loss needs; Poisson:
``[[exp(wx_h)]]``, and ``[[sum y wx_h]]`` formed on the labels the guest encrypted once at the start, which
saves a host encrypting ``wx_h`` every batch); the guest forms the encrypted residual ``[[d]]`` and sends it
to the hosts; every party computes its own encrypted gradient ``X^T [[d]] / n``, hides it under a random
mask it alone knows, has the arbiter decrypt the masked vector, removes the mask and steps its own optimizer.
The arbiter thus never sees a gradient, a host never sees a label or a residual, the guest never sees a
host's forward. With one host the guest also forms the encrypted loss, which the arbiter decrypts and records.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fate_flow.ml.paillier import EncryptedVector, PublicKey


@dataclass(frozen=True)
class Family:
    """What differs between LR, LinR and Poisson: the forward pieces a host encrypts, the residual, the
    loss (from the encrypted pieces and the guest's plain part) and the prediction from ``wx``."""

    name: str

    def host_pieces(self, wx: np.ndarray, with_loss: bool, weighted: bool) -> dict[str, np.ndarray]:
        """The plain vectors a host encrypts for the guest (``sum_*`` ones are 1-element sums)."""
        if self.name == "poisson":  # the loss's sum of y * wx_h the host forms on the encrypted labels
            return {"exp_wx": np.exp(wx)}
        pieces = {"wx": wx}
        if with_loss:
            pieces["sq_wx" if weighted else "sum_sq_wx"] = wx ** 2 if weighted else np.array([wx @ wx])
        return pieces

    @property
    def labels_at_host(self) -> bool:
        """Whether the loss needs the guest's labels encrypted at the host (Poisson: ``sum y * wx_h``; a host
        forms it on ``[[y]]``, sent once, instead of encrypting its ``wx`` every batch for the guest)."""
        return self.name == "poisson"

    def multiplies_forwards(self, weighted: bool) -> bool:
        """Whether the residual multiplies a host's encrypted forward by values of the guest's own (sample
        weights, Poisson's ``exp(wx_g)``): the residual then goes back to that host rerandomized uniformly
        (``ml.paillier.blinding``), as its maker could otherwise read their parities."""
        return weighted or self.name == "poisson"

    def forward_values(self, rows: int, with_loss: bool, weighted: bool) -> int:
        """How many values a host encrypts for a batch of ``rows``."""
        return sum(len(piece) for piece in self.host_pieces(np.zeros(rows), with_loss, weighted).values())

    def residual(self, host: dict[str, EncryptedVector], wx_g: np.ndarray, y: np.ndarray,
                 weights: np.ndarray | None, offset: np.ndarray | None = None) -> EncryptedVector:
        """The encrypted residual ``[[d]]`` (each row's gradient factor), sample weights applied."""
        if self.name == "poisson":  # mu = exposure * exp(wx_g) * exp(wx_h)
            scale = np.exp(wx_g) * (offset if offset is not None else 1.0)
            enc = host["exp_wx"] * scale - y
        else:
            enc = host["wx"] * self.host_factor + self.guest_part(wx_g, y)
        return enc * weights if weights is not None else enc

    @property
    def host_factor(self) -> float:
        """LR and LinR: the residual is ``host_factor * wx_h + guest_part(wx_g, y)``."""
        return {"logistic": 0.25, "linear": 1.0}[self.name]

    @property
    def host_loss_factor(self) -> float:
        """LR and LinR: the loss's own term of the host, ``host_loss_factor * sum wx_h^2``; with the cross term
        ``sum guest_part * wx_h`` and ``guest_loss`` it makes the batch's summed loss (``loss`` over the rows)."""
        return {"logistic": 0.125, "linear": 0.5}[self.name]

    def guest_loss(self, wx_g: np.ndarray, y: np.ndarray) -> float:
        """LR and LinR: the guest's own term of the batch's summed loss (``host_loss_factor``)."""
        if self.name == "logistic":
            return float((np.log(2) - 0.5 * (2.0 * y - 1.0) * wx_g + 0.125 * wx_g ** 2).sum())
        if self.name == "linear":
            return float((0.5 * (wx_g - y) ** 2).sum())
        raise ValueError(f"{self.name} has no additive residual")

    def guest_part(self, wx_g: np.ndarray, y: np.ndarray) -> np.ndarray:
        """LR and LinR: the guest's plain part of the residual (``0.25 wx_g - 0.5 y`` with labels as -1/+1 for
        LR, Taylor's expansion; ``wx_g - y`` for LinR)."""
        if self.name == "logistic":
            return 0.25 * wx_g - 0.5 * (2.0 * y - 1.0)
        if self.name == "linear":
            return wx_g - y
        raise ValueError(f"{self.name} has no additive residual")

    def loss(self, host: dict[str, EncryptedVector], wx_g: np.ndarray, y: np.ndarray,
             weights: np.ndarray | None, residual: EncryptedVector | None = None,
             offset: np.ndarray | None = None) -> EncryptedVector:
        """The encrypted mean loss of the batch (one host: the cross terms need the host's forward alone)."""
        n = len(y)
        w = weights if weights is not None else np.ones(n)
        if self.name == "poisson":
            scale = np.exp(wx_g) * (offset if offset is not None else 1.0)
            mu_sum = dot(host["exp_wx"], scale * w)
            wx_y = host["sum_y_wx"] + float((wx_g * y * w).sum())
            return (mu_sum - wx_y) * (1.0 / n)
        squares = dot(host["sq_wx"], w) if "sq_wx" in host else host["sum_sq_wx"]
        if self.name == "logistic":
            signed = 2.0 * y - 1.0
            # log 2 - 0.5 y wx + 0.125 wx^2, wx = wx_g + wx_h
            plain = float((w * (np.log(2) - 0.5 * signed * wx_g + 0.125 * wx_g ** 2)).sum())
            cross = dot(host["wx"], w * (0.25 * wx_g - 0.5 * signed))
            return (squares * 0.125 + cross + plain) * (1.0 / n)
        # linear: 0.5 (wx_g + wx_h - y)^2
        base = wx_g - y
        plain = float((w * base ** 2).sum())
        cross = dot(host["wx"], w * base) * 2.0
        return (squares + cross + plain) * (0.5 / n)

    def predict(self, wx: np.ndarray, offset: np.ndarray | None = None) -> np.ndarray:
        """The model's output for ``wx``: a probability, a value, or a rate."""
        if self.name == "logistic":
            return 1.0 / (1.0 + np.exp(-np.clip(wx, -500, 500)))
        if self.name == "poisson":
            return np.exp(wx) * (offset if offset is not None else 1.0)
        return wx

    def plain_loss(self, wx: np.ndarray, y: np.ndarray, weights: np.ndarray | None) -> float:
        """The exact loss (for a guest with no host, and for tests)."""
        w = weights if weights is not None else np.ones(len(y))
        if self.name == "logistic":
            signed = 2.0 * y - 1.0
            return float((w * np.logaddexp(0, -signed * wx)).mean())
        if self.name == "poisson":
            return float((w * (np.exp(wx) - y * wx)).mean())
        return float((w * 0.5 * (wx - y) ** 2).mean())


def dot(vector: EncryptedVector, plain: np.ndarray) -> EncryptedVector:
    """``[[sum_i v_i * p_i]]`` as one encrypted value (a multi-exponentiation, not one product per row)."""
    return vector.rmatmul(np.asarray(plain, dtype=np.float64).reshape(-1, 1))


LOGISTIC, LINEAR, POISSON = Family("logistic"), Family("linear"), Family("poisson")


def decode_pieces(public: PublicKey, wire: dict, expected_rows: int) -> dict[str, EncryptedVector]:
    """A host's pieces from the wire, checked: known names, rows as many as the batch (or one for a sum)."""
    if not isinstance(wire, dict):
        raise ValueError("a host's forward must be a dict of encrypted vectors")
    pieces = {}
    for name, value in wire.items():
        if name not in ("wx", "exp_wx", "sq_wx", "sum_sq_wx", "sum_y_wx"):
            raise ValueError(f"unexpected forward piece {name!r}")
        vector = EncryptedVector.from_wire(public, value)
        rows = 1 if name.startswith("sum_") else expected_rows
        if len(vector) != rows:
            raise ValueError(f"forward piece {name} has {len(vector)} rows, the batch {rows}")
        pieces[name] = vector
    return pieces


def add_pieces(per_host: list[dict[str, EncryptedVector]]) -> dict[str, EncryptedVector]:
    """The hosts' pieces summed (several hosts: their ``wx`` add up); products stay per name."""
    total = dict(per_host[0])
    for pieces in per_host[1:]:
        for name, vector in pieces.items():
            if name == "exp_wx":
                raise ValueError("Poisson regression takes one host")
            total[name] = total[name] + vector if name in total else vector
    return total
