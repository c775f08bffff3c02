"""The rsa protocol (FATE's RsaIntersection): blind RSA signatures, the key fresh per task.

Unified calculation (the default), host i holding an RSA key (e, d, n):

    guest                                              host i
                            <-- (e, n) --
                            <-- F(sign(H(h))) --       its own ids signed, final-hashed, in a secret order
    B = r^e H(g) mod n      -- B -->                   (r: a fresh uniform unit mod n per id)
                            <-- B^d = r H(g)^d --
    F(B^d / r) = F(sign(H(g))); intersection: equal final hashes, over every host
                            -- positions of the intersection in the host's list -->  (sync_intersect_ids)

H is ``hash_method`` of ``id + salt``, F is ``final_hash_method`` of ``str(signature) + salt`` (FATE's).
The host sees only blinded values; the guest sees only final hashes of signatures it cannot make.

Two choices of FATE's are not copied, as they let the key holder test guesses of the guest's ids that are
NOT in the intersection (a review demonstrated both):
- ``random_bit`` (FATE: r of 128 bits) and ``random_base_fraction`` (one r per group of ids) are accepted but
  every id gets a full-length uniform r: with a short r the key holder confirms a guess x' when
  ``B^d / H(x')^d`` is below ``2^random_bit``, and with a shared r it compares the ids of a group. A
  full-length r costs the same 17 multiplications (``r^e``, e = 65537).
- the key holder proves ``gcd(e, phi(n)) = 1`` with its key (e-th roots of hashed challenges,
  ``ml.paillier.key_proof``; e must be a prime of at least 65537): with ``e | p - 1`` the e-th power residue
  symbol of ``B`` would be that of ``H(g)``, a fingerprint of every guest id.

Split calculation (``split_calculation``): ids whose H is odd run the protocol above; ids whose H is even
run it with the roles of key holder and blinder swapped (the guest's key per host), and the host matches
them, telling the guest which of its even ids are in the intersection, as FATE does.

Cardinality (``cardinality_only``): the host sends a Bloom filter of its final hashes instead of the
hashes; the guest counts its own that the filter holds (an estimate, as FATE's).

Signing uses the CRT over the task's cores: Intel's crypto_mb signs eight values at once where it runs
(``ml.multibuffer``, ~6x gmpy2's speed at 2048 bits), gmpy2 one at a time elsewhere.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

import gmpy2
import numpy as np

from fate_flow.components.intersection.bloom import BloomFilter
from fate_flow.components.intersection.commutative import (
    Outcome,
    common_rows,
    received_count,
    received_ids,
    send_positions,
)
from fate_flow.components.intersection.hashing import (
    check_positions,
    check_rows,
    digest_function,
    int_rows,
    match,
    parallel_rows,
    permutation,
    row_ints,
    rows,
    salted,
)
from fate_flow.errors import ComponentError
from fate_flow.ml import multibuffer
from fate_flow.ml.paillier import key_proof
from fate_flow.ml.paillier.arith import batch_invert

PUBLIC_EXPONENT = 65537
_PROOF_DOMAIN = b"fate_flow rsa intersection gcd(e, phi(n)) = 1, e-th roots v1"


@dataclass(frozen=True)
class PublicKey:
    e: int
    n: int

    @property
    def width(self) -> int:
        """Bytes of one value modulo n."""
        return (self.n.bit_length() + 7) // 8

    def to_wire(self) -> dict[str, int]:
        """What crosses the data plane."""
        return {"e": self.e, "n": self.n}

    @classmethod
    def from_wire(cls, value: Any, min_bits: int = 1024) -> PublicKey:
        """A public key a peer sent, checked (odd modulus of at least ``min_bits`` bits, odd exponent > 1)."""
        try:
            e, n = value["e"], value["n"]
        except (TypeError, KeyError) as exc:
            raise ComponentError(f"the peer sent a malformed RSA public key: {exc}") from None
        if not (isinstance(e, int) and isinstance(n, int)) or isinstance(e, bool) or isinstance(n, bool):
            raise ComponentError("the peer sent an RSA public key that is not two integers")
        if n.bit_length() < min_bits or n % 2 == 0 or e < PUBLIC_EXPONENT or e >= n or not gmpy2.is_prime(e):
            raise ComponentError(f"the peer sent an RSA public key that is not acceptable ({n.bit_length()} bits; "
                                 f"at least {min_bits} are required; e a prime of at least {PUBLIC_EXPONENT})")
        return cls(e, n)

    @classmethod
    def proven(cls, value: Any, proof: Any) -> PublicKey:
        """A public key a peer sent with its proof of ``gcd(e, phi(n)) = 1`` (``PrivateKey.proof``), checked."""
        key = cls.from_wire(value)
        try:
            key_proof.verify_roots(key.n, key.e, proof, _PROOF_DOMAIN)
        except ValueError as exc:
            raise ComponentError(f"the peer's RSA public key is refused: {exc}") from None
        return key


@dataclass(frozen=True)
class PrivateKey:
    """An RSA key generated by ``cryptography`` (OpenSSL), kept as the CRT parameters gmpy2 signs with."""

    public: PublicKey
    p: int
    q: int
    dp: int
    dq: int
    q_inverse: int

    @classmethod
    def generate(cls, bits: int) -> PrivateKey:
        """A fresh key of ``bits`` bits, public exponent 65537."""
        from cryptography.hazmat.primitives.asymmetric import rsa

        numbers = rsa.generate_private_key(public_exponent=PUBLIC_EXPONENT, key_size=bits).private_numbers()
        public = PublicKey(numbers.public_numbers.e, numbers.public_numbers.n)
        return cls(public, numbers.p, numbers.q, numbers.dmp1, numbers.dmq1, numbers.iqmp)

    def to_json(self) -> dict[str, int]:
        """The key's numbers (kept in a cache)."""
        return {"e": self.public.e, "n": self.public.n, "p": self.p, "q": self.q, "dp": self.dp, "dq": self.dq,
                "q_inverse": self.q_inverse}

    @classmethod
    def from_json(cls, numbers: dict[str, int]) -> PrivateKey:
        """A key ``to_json`` gave, checked for consistency."""
        key = cls(PublicKey(numbers["e"], numbers["n"]), numbers["p"], numbers["q"], numbers["dp"], numbers["dq"],
                  numbers["q_inverse"])
        if key.p * key.q != key.public.n or (key.q * key.q_inverse) % key.p != 1:
            raise ValueError("inconsistent RSA key numbers")
        return key

    def proof(self) -> Any:
        """The e-th roots of this key's challenges: shows ``gcd(e, phi(n)) = 1`` (module doc)."""
        d = gmpy2.invert(self.public.e, (self.p - 1) * (self.q - 1))
        return key_proof.roots_proof(self.public.n, d, _PROOF_DOMAIN)

    def send_to(self, handle: Any, name: str) -> None:
        """Send the public key under ``name`` and its proof under ``name + "_proof"``."""
        handle.put(name, self.public.to_wire())
        handle.put(f"{name}_proof", self.proof())

    @property
    def crt(self) -> tuple[int, int, int, int, int]:
        """What the signing kernels need: p, q, d mod p-1, d mod q-1, q^-1 mod p."""
        return self.p, self.q, self.dp, self.dq, self.q_inverse


# -- kernels (worker processes) -------------------------------------------------------------------------------------
def _signer(crt: tuple[int, int, int, int, int]):
    p, q, dp, dq, q_inverse = (gmpy2.mpz(v) for v in crt)

    def sign(x: Any) -> Any:
        a, b = gmpy2.powmod(x, dp, p), gmpy2.powmod(x, dq, q)
        return b + ((q_inverse * (a - b)) % p) * q

    return sign


def _final_hash(method: str, salt: str):
    digest = digest_function(method)
    return lambda signature: digest((signature.digits() + salt).encode("utf-8"))


def _signed_rows(crt: tuple, n: int, values: np.ndarray) -> np.ndarray:
    """x^d mod n for each little-endian row x in [0, n), as rows: Intel's crypto_mb eight at a time where it runs,
    else gmpy2's CRT one at a time (the same numbers)."""
    out = multibuffer.rsa_crt(crt, n, values)
    if out is not None:
        return out
    sign = _signer(crt)
    return int_rows([int(sign(gmpy2.mpz(y))) for y in row_ints(values)], values.shape[1])


def _final_signatures(crt: tuple, n: int, final_method: str, salt: str, values: list[int]) -> np.ndarray:
    """F(sign(x)) for each integer x (reduced modulo n: the same signature)."""
    final = _final_hash(final_method, salt)
    signed = _signed_rows(crt, n, int_rows([x % n for x in values], (n.bit_length() + 7) // 8))
    out = [final(gmpy2.mpz(s)) for s in row_ints(signed)]
    return rows(out, len(out[0]) if out else 1)


def _sign_own_ids(item: tuple[tuple, int, str, str, str, list[str]]) -> np.ndarray:
    """F(sign(H(id + salt))) for each id."""
    crt, n, method, final_method, salt, ids = item
    digest = digest_function(method)
    return _final_signatures(crt, n, final_method, salt, [int.from_bytes(digest(v), "big") for v in salted(ids, salt)])


def _sign_own_values(item: tuple[tuple, int, str, str, list[int]]) -> np.ndarray:
    """F(sign(x)) for each first-hash value x (split calculation)."""
    crt, n, final_method, salt, values = item
    return _final_signatures(crt, n, final_method, salt, values)


def _sign_rows(item: tuple[tuple, int, np.ndarray]) -> np.ndarray:
    """sign(y) for each row y (blinded values a peer sent), checked to lie in (0, n)."""
    crt, n, values = item
    if any(not 0 < y < n for y in row_ints(values)):
        raise ValueError("the peer sent a value outside (0, n)")
    return _signed_rows(crt, n, values)


def _powers(e: int, n: int, values: list[int]) -> list[Any]:
    """x^e mod n for each x in [0, n): crypto_mb eight at a time for e = 65537 where it runs, else gmpy2."""
    if e == PUBLIC_EXPONENT:
        out = multibuffer.rsa_public(n, int_rows(values, (n.bit_length() + 7) // 8))
        if out is not None:
            return [gmpy2.mpz(v) for v in row_ints(out)]
    e_, n_ = gmpy2.mpz(e), gmpy2.mpz(n)
    return [gmpy2.powmod(x, e_, n_) for x in values]


def _blind(item: tuple[int, int, list[int]]) -> np.ndarray:
    """[r^e x mod n | r] rows, a fresh r uniform in [1, n) per value x (module doc: never a short or shared r)."""
    e, n, values = item
    n_, width = gmpy2.mpz(n), (n.bit_length() + 7) // 8
    blinds = [secrets.randbelow(n - 1) + 1 for _ in values]  # a unit but with probability ~2^-(bits/2)
    out = [int(power * x % n_).to_bytes(width, "little") + r.to_bytes(width, "little")
           for power, x, r in zip(_powers(e, n, blinds), values, blinds, strict=True)]
    return rows(out, 2 * width)


def _unblind(item: tuple[int, str, str, np.ndarray, np.ndarray]) -> np.ndarray:
    """F(s / r mod n) for each signed value s and its r."""
    n, final_method, salt, signed, blinds = item
    n_, final = gmpy2.mpz(n), _final_hash(final_method, salt)
    inverses = batch_invert([gmpy2.mpz(r) for r in row_ints(blinds)], n_)  # one inversion for the chunk
    out = [final(s * inverse % n_) for s, inverse in zip(row_ints(signed), inverses, strict=True)]
    return rows(out, len(out[0]) if out else 1)


# -- the steps both roles use ------------------------------------------------------------------------------------
def first_hashes(ids: np.ndarray, method: str, salt: str) -> list[int]:
    """H(id + salt) as integers (FATE: the digest read as a big-endian number)."""
    digest = digest_function(method)
    return [int.from_bytes(digest(v), "big") for v in salted(np.asarray(ids).tolist(), salt)]


def blind(computing: Any, key: PublicKey, values: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """(blinded rows to send, the r of each, kept), a fresh full-length r per value."""
    both = parallel_rows(computing, _blind, lambda s: (key.e, key.n, values[s]), len(values), 2 * key.width)
    return both[:, :key.width], both[:, key.width:]


def unblind(computing: Any, key: PublicKey, signed: np.ndarray, blinds: np.ndarray, final_method: str,
            salt: str, digest_width: int) -> np.ndarray:
    """F(signature) of each blinded value the key holder signed."""
    return parallel_rows(computing, _unblind, lambda s: (key.n, final_method, salt, signed[s], blinds[s]),
                         len(signed), digest_width)


def sign_rows(computing: Any, key: PrivateKey, name: str, values: Any) -> np.ndarray:
    """The key holder signs the blinded values a peer sent (checked)."""
    values = check_rows(name, values, key.public.width)
    try:
        return parallel_rows(computing, _sign_rows, lambda s: (key.crt, key.public.n, values[s]), len(values),
                             key.public.width)
    except ValueError as exc:
        raise ComponentError(f"{name}: {exc}") from None


def digest_width(method: str) -> int:
    """Bytes of a ``method`` digest."""
    return len(digest_function(method)(b""))


# -- unified calculation -----------------------------------------------------------------------------------------
def host_keys(ctx: Any) -> list[PublicKey]:
    """Each host's public key (the guest blinds under it)."""
    return [PublicKey.proven(k, proof) for k, proof in zip(ctx.hosts.get("rsa_public_key"),
                                                           ctx.hosts.get("rsa_public_key_proof"), strict=True)]


def host_signed_ids(ctx: Any, width: int) -> list[np.ndarray]:
    """Each host's final-hashed signatures of its own ids."""
    return [check_rows("host_signed_ids", theirs, width) for theirs in ctx.hosts.get("host_signed_ids")]


def guest(ctx: Any, params: Any, ids: np.ndarray, *, sync: bool, cardinality: bool, preprocess: Any,
          sync_cardinality: bool, cached: tuple[list[PublicKey], list[np.ndarray]] | None = None) -> Outcome:
    """The guest's side of the unified calculation (and of rsa cardinality). ``cached``: each host's public
    key and signed ids from a cache (then only the guest's blinded ids cross)."""
    rsa = params
    width = digest_width(rsa.final_hash_method)
    keys = cached[0] if cached else host_keys(ctx)
    values = first_hashes(ids, rsa.hash_method, rsa.salt)
    blinds = []
    for host, key in zip(ctx.hosts, keys, strict=True):
        blinded, r = blind(ctx.computing, key, values)
        host.put("guest_blinded_ids", blinded)
        blinds.append(r)
    if cardinality:
        blooms = [BloomFilter.from_wire(wire) for wire in ctx.hosts.get("host_filter")]
    else:
        signed_lists = cached[1] if cached else host_signed_ids(ctx, width)
    matches, passed = [], []
    for index, (host, key, r) in enumerate(zip(ctx.hosts, keys, blinds, strict=True)):
        signed = check_rows("host_signed_guest_ids", host.get("host_signed_guest_ids"), key.width, len(ids))
        mine = unblind(ctx.computing, key, signed, r, rsa.final_hash_method, rsa.salt, width)
        if cardinality:
            passed.append(np.flatnonzero(blooms[index].contains([bytes(row) for row in mine])))
        else:
            matches.append(match(mine, signed_lists[index]))
    if cardinality:
        count = int(common_rows(passed).size)
        if sync_cardinality:
            ctx.hosts.put("cardinality", count)
        return Outcome(count=count)
    common = common_rows([guest_rows for guest_rows, _ in matches])
    if sync:
        send_positions(ctx, common, matches, len(ids))
    return Outcome(ids=ids[common])


def send_key_and_signed_ids(ctx: Any, rsa: Any, ids: np.ndarray, key: PrivateKey,
                            filter_params: Any = None) -> np.ndarray:
    """A host sends its public key and its own ids signed and final-hashed, in a secret order (as a Bloom
    filter of them with ``filter_params``, for cardinality); returns its ids in that order."""
    key.send_to(ctx.guest, "rsa_public_key")
    shuffled = ids[permutation(len(ids))]
    mine = parallel_rows(ctx.computing, _sign_own_ids,
                         lambda s: (key.crt, key.public.n, rsa.hash_method, rsa.final_hash_method, rsa.salt,
                                   shuffled[s].tolist()),
                         len(ids), digest_width(rsa.final_hash_method))
    if filter_params is not None:
        bloom = BloomFilter.build([bytes(row) for row in mine], filter_params.false_positive_rate,
                                  filter_params.hash_method, filter_params.random_state)
        ctx.guest.put("host_filter", bloom.to_wire())
    else:
        ctx.guest.put("host_signed_ids", mine)
    return shuffled


def host(ctx: Any, params: Any, ids: np.ndarray, *, sync: bool, cardinality: bool, preprocess: Any,
         sync_cardinality: bool, cached: tuple[PrivateKey, np.ndarray] | None = None) -> Outcome:
    """One host's side of the unified calculation (and of rsa cardinality). ``cached``: its key and the ids
    it sent signed earlier, in that order (then it only signs the guest's blinded ids)."""
    rsa = params
    if cached:
        key, sent = cached
    else:
        key = PrivateKey.generate(rsa.key_length)
        sent = send_key_and_signed_ids(ctx, rsa, ids, key, preprocess if cardinality else None)
    ctx.guest.put("host_signed_guest_ids",
                  sign_rows(ctx.computing, key, "guest_blinded_ids", ctx.guest.get("guest_blinded_ids")))
    if cardinality:
        return Outcome(count=received_count(ctx) if sync_cardinality else None)
    return received_ids(ctx, sent) if sync else Outcome()


# -- split calculation -------------------------------------------------------------------------------------------
def sign_own_values(computing: Any, key: PrivateKey, values: list[int], final_method: str, salt: str) -> np.ndarray:
    """F(sign(x)) for each first-hash value x."""
    return parallel_rows(computing, _sign_own_values, lambda s: (key.crt, key.public.n, final_method, salt, values[s]),
                         len(values), digest_width(final_method))


def split_guest(ctx: Any, rsa: Any, ids: np.ndarray, *, sync: bool) -> Outcome:
    """The guest's side of the split calculation: its odd ids blinded under each host's key, its even ids
    signed with its own key per host (in a secret order) for the host to match."""
    values = first_hashes(ids, rsa.hash_method, rsa.salt)
    odd = np.flatnonzero(np.fromiter((v & 1 for v in values), dtype=bool, count=len(values)))
    even = np.setdiff1d(np.arange(len(ids)), odd)
    width = digest_width(rsa.final_hash_method)
    own_keys = [PrivateKey.generate(rsa.key_length) for _ in ctx.hosts]
    for host, own in zip(ctx.hosts, own_keys, strict=True):
        own.send_to(host, "rsa_guest_public_key")
    keys = host_keys(ctx)
    odd_values, orders, blinds = [values[i] for i in odd], [], []
    for host, key, own in zip(ctx.hosts, keys, own_keys, strict=True):
        blinded, r = blind(ctx.computing, key, odd_values)
        host.put("guest_blinded_ids", blinded)
        blinds.append(r)
        order = even[permutation(even.size)]
        host.put("guest_signed_ids", sign_own_values(ctx.computing, own, [values[i] for i in order],
                                                     rsa.final_hash_method, rsa.salt))
        orders.append(order)
    for host, own in zip(ctx.hosts, own_keys, strict=True):
        host.put("guest_signed_host_ids",
                 sign_rows(ctx.computing, own, "host_blinded_ids", host.get("host_blinded_ids")))
    per_host, matches = [], []
    for host, key, r, order in zip(ctx.hosts, keys, blinds, orders, strict=True):
        theirs = check_rows("host_signed_ids", host.get("host_signed_ids"), width)
        signed = check_rows("host_signed_guest_ids", host.get("host_signed_guest_ids"), key.width, odd.size)
        odd_rows, host_positions = match(unblind(ctx.computing, key, signed, r, rsa.final_hash_method, rsa.salt,
                                                 width), theirs)
        even_positions = check_positions("host_intersect_positions", host.get("host_intersect_positions"), even.size)
        matches.append((odd[odd_rows], host_positions, order[even_positions], even_positions))
        per_host.append(np.concatenate([odd[odd_rows], order[even_positions]]))
    common = common_rows(per_host)
    if sync:
        for host, (odd_guest, odd_host, even_guest, even_sent) in zip(ctx.hosts, matches, strict=True):
            host.put("intersect_positions", odd_host[np.isin(odd_guest, common)])
            host.put("intersect_even_positions", even_sent[np.isin(even_guest, common)])
    return Outcome(ids=ids[common])


def split_host(ctx: Any, rsa: Any, ids: np.ndarray, *, sync: bool) -> Outcome:
    """One host's side of the split calculation: its even ids blinded under the guest's key, its odd ids
    signed with its own key; it finds the even part of the intersection and tells the guest."""
    key = PrivateKey.generate(rsa.key_length)
    key.send_to(ctx.guest, "rsa_public_key")
    guest_key = PublicKey.proven(ctx.guest.get("rsa_guest_public_key"), ctx.guest.get("rsa_guest_public_key_proof"))
    values = first_hashes(ids, rsa.hash_method, rsa.salt)
    odd = np.flatnonzero(np.fromiter((v & 1 for v in values), dtype=bool, count=len(values)))
    even = np.setdiff1d(np.arange(len(ids)), odd)
    width = digest_width(rsa.final_hash_method)
    blinded, r = blind(ctx.computing, guest_key, [values[i] for i in even])
    ctx.guest.put("host_blinded_ids", blinded)
    order = odd[permutation(odd.size)]
    ctx.guest.put("host_signed_ids", sign_own_values(ctx.computing, key, [values[i] for i in order],
                                                     rsa.final_hash_method, rsa.salt))
    ctx.guest.put("host_signed_guest_ids",
                  sign_rows(ctx.computing, key, "guest_blinded_ids", ctx.guest.get("guest_blinded_ids")))
    signed = check_rows("guest_signed_host_ids", ctx.guest.get("guest_signed_host_ids"), guest_key.width, even.size)
    mine = unblind(ctx.computing, guest_key, signed, r, rsa.final_hash_method, rsa.salt, width)
    theirs = check_rows("guest_signed_ids", ctx.guest.get("guest_signed_ids"), width)
    even_rows, guest_positions = match(mine, theirs)
    ctx.guest.put("host_intersect_positions", guest_positions)
    if not sync:
        return Outcome()
    odd_positions = check_positions("intersect_positions", ctx.guest.get("intersect_positions"), odd.size)
    sent_even = check_positions("intersect_even_positions", ctx.guest.get("intersect_even_positions"), len(theirs))
    known = dict(zip(guest_positions.tolist(), even[even_rows].tolist(), strict=True))
    if any(p not in known for p in sent_even.tolist()):
        raise ComponentError("the guest sent intersect_even_positions that the host did not match")
    rows_ = np.concatenate([order[odd_positions], np.array([known[p] for p in sent_even.tolist()], dtype=np.int64)])
    return Outcome(ids=ids[np.sort(rows_)])
