"""A party that sends values computed with its secret multipliers back under a key the other party made refuses
that key without its proof of ``gcd(n, phi(n)) = 1`` (``ml.paillier.key_proof``): the hetero linear models
under the parties' own keys (``test_hetero_protocol``), SecureBoost's hosts, feature binning's hosts,
Pearson's computing party and EINI's hosts. Here: the proof itself, and the components' refusals of a key
whose proof is borrowed from another key (what a party that cannot prove its modulus could at best send)."""

from __future__ import annotations

import numpy as np
import pytest

from fate_flow.components._hetero_secureboost_host import _host_fit
from fate_flow.entity.keys import TaskKey
from fate_flow.errors import ComponentError
from fate_flow.framework.context import Context
from fate_flow.framework.federation import Exchange
from fate_flow.ml.paillier import generate_keypair, key_proof
from fate_flow.ml.sbt_eini import _eini_message
from tests.algorithms.test_homo_lr import MemoryPlane

ROLES = {"guest": ["9999"], "host": ["10000"]}


@pytest.fixture(scope="module")
def keys() -> tuple:
    (public, private), (other, _) = generate_keypair(1024), generate_keypair(1024)
    return public, private, other


def test_an_honest_proof_verifies_and_proves_nothing_for_another_key(keys):
    public, private, other = keys
    proof = key_proof.prove(private)
    assert len(proof) == key_proof.ROUNDS
    assert key_proof.verified_key(public.to_wire(), proof) == public
    with pytest.raises(ValueError, match="key proof fails"):
        key_proof.verified_key(other.to_wire(), proof)
    with pytest.raises(ValueError, match="12 roots"):
        key_proof.verify(public, None)


def _context(plane: MemoryPlane, role: str) -> Context:
    me = (role, ROLES[role][0])
    task = TaskKey("202401010000000000009", "component_0", "t", 0, *me)
    return Context(task=task, module="HeteroSecureBoost", stage="train", params=None, cores=1, computing=None,
                   inputs=None, outputs=None, models=None, metrics=None,
                   exchange=Exchange(plane.transport(me), me, ROLES))


def test_a_secureboost_host_refuses_a_guest_key_without_its_proof(keys):
    public, private, other = keys
    plane = MemoryPlane()
    _context(plane, "guest").hosts.put("setup", {"public_key": other.to_wire(), "key_proof": key_proof.prove(private),
                                                 "tree_dim": 1})
    with pytest.raises(ComponentError, match="bad public key: the key proof fails"):
        _host_fit(_context(plane, "host"), np.zeros((3, 2)), None, None)


def test_an_eini_host_refuses_a_guest_key_without_its_proof(keys):
    public, private, other = keys
    message = {"public_key": other.to_wire(), "key_proof": key_proof.prove(private),
               "dims": np.zeros(1, dtype=np.int64), "tree_dim": 1,
               "values": other.encrypt(np.zeros(2)).to_wire()}
    with pytest.raises(ComponentError, match="the key proof fails"):
        _eini_message(message, np.zeros((1, 2)), [np.arange(2)])
