"""Paillier encryption over numpy vectors: what the hetero linear models send between parties.

The arbiter makes a key pair and sends the public key; a party encrypts a float vector (``pub.encrypt``),
the others add plain or encrypted vectors, multiply by plain numbers, and compute ``X^T @ [[d]]``
(``rmatmul``); the arbiter decrypts (``priv.decrypt``). Everything crosses parties as plain values
(``to_wire`` / ``from_wire``, which validates what a peer sent).

Scheme: Paillier with ``g = n + 1``: ``Enc(m) = (1 + m n) * rho mod n^2`` where ``rho`` is a fresh random
n-th residue for every ciphertext; decryption by CRT over ``p^2`` and ``q^2``. Keys are at least 1024 bits.

The modules:

- :mod:`~fate_flow.ml.paillier.keys`: key generation, :class:`PublicKey` (encrypts) and :class:`PrivateKey`
  (decrypts, and encrypts, by CRT over ``p^2`` and ``q^2``);
- :mod:`~fate_flow.ml.paillier.vector`: :class:`EncryptedVector`: a public fixed-point exponent and bound per
  vector, the homomorphic arithmetic and the wire form;
- :mod:`~fate_flow.ml.paillier.obfuscation`: each ciphertext's fresh random ``rho`` by Damgard-Jurik-Nielsen's
  fixed-base variant with full-length exponents (semantic security from DCR alone), its fixed-base tables
  (the key owner's by CRT, 2.7x faster at 2048 bits);
- :mod:`~fate_flow.ml.paillier.pool`: :class:`ObfuscatorPool`, a forked worker that makes obfuscators ahead
  of need;
- :mod:`~fate_flow.ml.paillier.blinding`: what ``rerandomize_uniform`` adds to a DJN obfuscator for values
  that go back to the maker of the ciphertexts they were computed from;
- :mod:`~fate_flow.ml.paillier.multiexp`: ``rmatmul``'s bucket (Pippenger) multi-exponentiation;
- :mod:`~fate_flow.ml.paillier.parallel`: threads and forked processes (``in_processes``);
- :mod:`~fate_flow.ml.paillier.arith`: the big-integer helpers they share.

Speed (bench/paillier_ops.py): per core, about 3,500 encryptions/s at 1024 bits and 650/s at 2048 against 520
and 78 with the textbook ``r^n``; decryption, elementwise and matrix products use ``cores`` threads or
forked processes when the work pays for them.
"""

from fate_flow.ml.paillier.blinding import prepare_blinding
from fate_flow.ml.paillier.keys import (
    ENCRYPT_FRAC_BITS,
    MAX_KEY_LENGTH,
    MIN_KEY_LENGTH,
    PrivateKey,
    PublicKey,
    generate_keypair,
)
from fate_flow.ml.paillier.multiexp import MATMUL_BITS, MATMUL_FRAC_BITS
from fate_flow.ml.paillier.obfuscation import OBFUSCATION_SLACK_BITS, OBFUSCATION_TABLE_BYTES
from fate_flow.ml.paillier.parallel import in_processes
from fate_flow.ml.paillier.pool import POOL_CAPACITY, POOL_MAX_BYTES, ObfuscatorPool
from fate_flow.ml.paillier.vector import (
    MAX_EXPONENT,
    MAX_VECTOR_LENGTH,
    MULT_FRAC_BITS,
    VALUE_BITS,
    WIRE_KEYS,
    EncryptedVector,
)

__all__ = [
    "ENCRYPT_FRAC_BITS",
    "MATMUL_BITS",
    "MATMUL_FRAC_BITS",
    "MAX_EXPONENT",
    "MAX_KEY_LENGTH",
    "MAX_VECTOR_LENGTH",
    "MIN_KEY_LENGTH",
    "MULT_FRAC_BITS",
    "OBFUSCATION_SLACK_BITS",
    "OBFUSCATION_TABLE_BYTES",
    "POOL_CAPACITY",
    "POOL_MAX_BYTES",
    "VALUE_BITS",
    "WIRE_KEYS",
    "EncryptedVector",
    "ObfuscatorPool",
    "PrivateKey",
    "PublicKey",
    "generate_keypair",
    "in_processes",
    "prepare_blinding",
]
