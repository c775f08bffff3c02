"""A proof that a peer's Paillier modulus ``n`` has ``gcd(n, phi(n)) = 1``: n-th roots of random challenges.

Why: a party that sends values computed with its secret multipliers back under a key the OTHER party made
(the hetero linear models under the parties' own keys) relies on ``Z_{n^2}^*`` being ``<1 + n>`` times the
n-th residues, so that a uniform n-th residue hides everything but the (masked) plaintext. That holds exactly
when ``gcd(n, phi(n)) = 1``. A key owner who picks ``n`` with a prime ``r`` dividing both ``n`` and
``phi(n)`` (``PublicKey.from_wire`` cannot tell) gets a character of order ``r`` that no rerandomization
touches, and can tag its own ciphertexts with it to read the other party's multipliers back.

The proof (non-interactive, the challenges from SHAKE-256 of the modulus, as in Goldberg, Reyzin, Sagga and
Baldimtsi, "Efficient noninteractive certification of RSA moduli and beyond", 2019): for ``ROUNDS``
challenges ``rho_j`` the owner sends ``sigma_j = rho_j^(n^-1 mod phi(n)) mod n``; the verifier checks
``sigma_j^n = rho_j mod n``. With a prime ``r | gcd(n, phi(n))`` the n-th powers are a subgroup of index at
least ``r`` in ``Z_n^*``, so a challenge that is a unit has an n-th root with probability at most ``1/r``
(one sharing a prime ``p`` with ``n`` may have one too: ``1/p`` more); ``from_wire`` refuses factors below
2000, so twelve rounds leave a cheater a chance below ``2^-124``. The roots tell nothing about the
factors that random n-th roots of random values would not (anyone can make pairs ``(sigma^n, sigma)``).
The same proof with an RSA key's ``e`` in place of ``n`` (``roots_proof``, ``verify_roots``) shows
``gcd(e, phi(n)) = 1`` for the RSA intersection's keys.

What it does not show: that ``n`` has two prime factors with a small ``gcd(p - 1, q - 1)``, which the
blinding of ``rerandomize_uniform`` assumes for its bound (``ml.paillier.blinding``); the hetero linear models
under the parties' own keys use textbook ``r^n`` instead, which needs nothing beyond this proof.
"""

from __future__ import annotations

import hashlib
from typing import Any

import gmpy2
from gmpy2 import mpz

from fate_flow.engine.bigint import BigIntVector
from fate_flow.ml.paillier.keys import PrivateKey, PublicKey

ROUNDS = 12  # challenges; each passes a modulus with gcd(n, phi(n)) > 1 with probability below 1/1000
_DOMAIN = b"fate_flow paillier gcd(n, phi(n)) = 1, n-th roots v1"


def prove(private: PrivateKey) -> BigIntVector:
    """The n-th roots of this key's challenges (only the owner of the factors can compute them)."""
    n, phi = private.public.n, (private.p - 1) * (private.q - 1)
    return roots_proof(n, gmpy2.invert(n, phi), _DOMAIN)


def verify(public: PublicKey, proof: Any) -> None:
    """Raise ValueError unless ``proof`` holds an n-th root of each of ``public``'s challenges."""
    verify_roots(public.n, public.n, proof, _DOMAIN)


def verified_key(key_wire: Any, proof: Any) -> PublicKey:
    """The public key a peer sent with its proof: ``PublicKey.from_wire`` and ``verify`` (ValueError if not)."""
    public = PublicKey.from_wire(key_wire)
    verify(public, proof)
    return public


def roots_proof(n: int | mpz, inverse: int | mpz, domain: bytes) -> BigIntVector:
    """``rho_j^inverse mod n`` for the ``ROUNDS`` challenges of ``n`` under ``domain``: the ``e``-th roots when
    ``inverse`` is ``e^-1 mod phi(n)`` (an RSA key's ``d``; the modulus itself for Paillier)."""
    n = mpz(n)
    width = (n.bit_length() + 7) // 8
    return BigIntVector.from_ints((int(gmpy2.powmod(rho, inverse, n)) for rho in _challenges(n, domain)), width)


def verify_roots(n: int | mpz, exponent: int | mpz, proof: Any, domain: bytes) -> None:
    """Raise ValueError unless ``proof`` holds an ``exponent``-th root mod ``n`` of each challenge."""
    n = mpz(n)
    if not isinstance(proof, BigIntVector) or len(proof) != ROUNDS:
        raise ValueError(f"the key proof must be a BigIntVector of {ROUNDS} roots")
    for rho, sigma in zip(_challenges(n, domain), proof.ints(), strict=True):
        if not 0 < sigma < n or gmpy2.powmod(mpz(sigma), exponent, n) != rho:
            raise ValueError("the key proof fails: the modulus shares a factor with phi(n) (or with the "
                             "exponent's), or the proof is not for this key")


def _challenges(n: mpz, domain: bytes) -> list[mpz]:
    """``ROUNDS`` values in ``Z_n`` from SHAKE-256 of the modulus (128 bits beyond its length: bias below
    ``2^-128``)."""
    size = (n.bit_length() + 7) // 8
    seed = domain + int(n).to_bytes(size, "big")
    return [mpz.from_bytes(hashlib.shake_256(seed + j.to_bytes(2, "big")).digest(size + 16), "big") % n
            for j in range(ROUNDS)]
