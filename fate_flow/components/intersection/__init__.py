"""Intersection: the private set intersection of the guest's and the hosts' sample ids (FATE 1.11's
``Intersection`` module, docs/fate-params-1.11.md §2).

``intersect_method`` ``rsa`` (blind RSA signatures, the host holds the key), ``dh`` (commutative
exponentiation modulo an RFC 3526 safe prime) or ``ecdh`` (commutative scalar multiplication on
curve25519); ``raw`` is rewritten to ``ecdh`` as FATE 1.11's parameter check does. Each party outputs
its input table restricted to the intersected ids (``only_output_key``: the ids alone); a host learns
the intersection only when ``sync_intersect_ids``. ``cardinality_only`` counts instead (exact with dh or
ecdh, estimated with a Bloom filter with rsa); ``run_preprocess`` first drops ids that a Bloom filter of
the other side rules out; ``run_cache`` keeps the host's half of the protocol as a cache (model files,
alias ``cache``) that a later Intersection given it as its ``cache`` input reuses. Data with match ids
(DataTransform's ``with_match_id``) is intersected on the match ids, and every party's rows are then keyed
by the sample ids of ``sample_id_generator`` (the guest without ``sync_intersect_ids``, as FATE).
``join_method`` left_join (data with match ids only, as FATE) keeps every row of the generator: the generator
outputs its whole input, and each other party its intersected rows plus a row of missing values (NaN
features) under each of the generator's other sample ids, which the generator sends it; ``new_sample_id``
gives those rows of the generator fresh random sample ids first (it has no effect on an inner join, as in
FATE 1.11).

This module declares the spec and FATE's parameters only (pydantic, nothing heavy); the protocols run in
the sibling modules, imported by the executor.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    ValidationInfo,
    field_validator,
    model_validator,
)

from fate_flow.framework import PREDICT, TRAIN, ComponentSpec, Inputs, Outputs, Params
from fate_flow.ml.params import Nested, choice

HASHES = ("md5", "sha1", "sha224", "sha256", "sha384", "sha512", "sm3")
DEFAULT_RANDOM_BIT = 128


def _number(value: Any) -> Any:
    """FATE's number checks look at the type: a bool or a numeric text is not a number."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError("must be a number")
    return value


def _key_length(value: int) -> int:
    if value <= 0:
        raise ValueError("must be a positive integer")
    if value < 1024:
        raise ValueError("key length must be >= 1024")
    return value


def _positive(value: int) -> int:
    if value <= 0:
        raise ValueError("must be a positive integer")
    return value


Number = Annotated[float, BeforeValidator(_number)]
KeyLength = Annotated[StrictInt, AfterValidator(_key_length)]
PositiveInt = Annotated[StrictInt, AfterValidator(_positive)]


class RSAParams(Nested):
    """``rsa_params``: blind-signature PSI (the host's RSA key signs the guest's blinded ids)."""

    salt: StrictStr = ""
    hash_method: choice("sha256", "sha384", "sha512", "sm3") = "sha256"
    final_hash_method: choice(*HASHES) = "sha256"
    split_calculation: StrictBool = False
    random_base_fraction: Number | None = None
    key_length: KeyLength = 2048
    random_bit: PositiveInt = DEFAULT_RANDOM_BIT

    @model_validator(mode="after")
    def _fraction(self) -> RSAParams:
        fraction = self.random_base_fraction
        if fraction and not 0 < fraction <= 1:
            raise ValueError("random_base_fraction must be a number in (0, 1]")
        return self


class DHParams(Nested):
    """``dh_params``: commutative exponentiation modulo a safe prime of ``key_length`` bits."""

    salt: StrictStr = ""
    hash_method: choice("none", *HASHES) = "sha256"
    key_length: KeyLength = 2048


class ECDHParams(Nested):
    """``ecdh_params``: commutative scalar multiplication on curve25519."""

    salt: StrictStr = ""
    hash_method: choice("sha256", "sha384", "sha512", "sm3") = "sha256"
    curve: choice("curve25519") = "curve25519"


class RAWParams(Nested):
    """``raw_params`` (checked, but FATE 1.11 runs raw as ecdh)."""

    use_hash: StrictBool = False
    salt: StrictStr = ""
    hash_method: choice("none", *HASHES) = "none"
    base64: StrictBool = False
    join_role: choice("guest", "host") = "guest"


class EncodeParams(Nested):
    """Deprecated ``encode_params``: copied into ``raw_params``, never checked on its own (as FATE)."""

    salt: Any = ""
    encode_method: Any = "none"
    base64: Any = False


class IntersectCacheParams(Nested):
    """Deprecated ``intersect_cache_param``: ignored since FATE 1.7 (its values are not checked)."""

    use_cache: Any = False
    id_type: Any = "phone"
    encrypt_type: Any = "sha256"


class PreprocessParams(Nested):
    """``intersect_preprocess_params``: the Bloom filter of ``run_preprocess`` and of rsa cardinality."""

    false_positive_rate: Number = 1e-3
    encrypt_method: choice("rsa") = "rsa"
    hash_method: choice(*HASHES) = "sha256"
    preprocess_method: choice(*HASHES) = "sha256"
    preprocess_salt: StrictStr = ""
    random_state: Number | None = None
    filter_owner: choice("guest", "host") = "guest"

    @model_validator(mode="after")
    def _ranges(self) -> PreprocessParams:
        if not 0 < self.false_positive_rate <= 0.5:
            raise ValueError("false_positive_rate must be a positive number no greater than 0.5")
        if self.random_state and self.random_state < 0:
            raise ValueError("random_state must be a non-negative number")
        return self


DEPRECATED = ("random_bit", "join_role", "with_encode", "encode_params", "intersect_cache_param",
              "repeated_id_process", "repeated_id_owner", "allow_info_share", "info_owner", "with_sample_id")


def _intersect_method(value: Any) -> Any:
    """FATE 1.11: ``raw`` (any case) becomes ``ecdh``; then one of rsa, dh, ecdh."""
    if isinstance(value, str) and value.lower() == "raw":
        return "ecdh"
    return value


class IntersectParams(Params):
    """FATE 1.11's IntersectParam: names, defaults and check() rules (docs/fate-params-1.11.md §2.1)."""

    intersect_method: Annotated[choice("rsa", "dh", "ecdh"), BeforeValidator(_intersect_method)] = "rsa"
    random_bit: PositiveInt = DEFAULT_RANDOM_BIT  # deprecated: rsa_params.random_bit
    sync_intersect_ids: StrictBool = True
    join_role: choice("guest", "host") = "guest"  # deprecated: raw_params.join_role
    only_output_key: StrictBool = False
    with_encode: StrictBool = False  # deprecated: raw_params.use_hash
    encode_params: EncodeParams = Field(default_factory=EncodeParams)  # deprecated: raw_params
    raw_params: RAWParams = Field(default_factory=RAWParams)
    rsa_params: RSAParams = Field(default_factory=RSAParams)
    dh_params: DHParams = Field(default_factory=DHParams)
    ecdh_params: ECDHParams = Field(default_factory=ECDHParams)
    join_method: choice("inner_join", "left_join") = "inner_join"
    new_sample_id: StrictBool = False
    sample_id_generator: choice("guest", "host") = "guest"
    intersect_cache_param: IntersectCacheParams = Field(default_factory=IntersectCacheParams)
    cardinality_only: StrictBool = False
    sync_cardinality: StrictBool = False
    cardinality_method: Any = "ecdh"  # checked only with cardinality_only, and not lower-cased (as FATE)
    run_preprocess: StrictBool = False
    intersect_preprocess_params: PreprocessParams = Field(default_factory=PreprocessParams)
    run_cache: StrictBool = False  # last: its check reads the fields above (pydantic validates in order)
    # deprecated since FATE 1.7, accepted with a warning and without effect
    repeated_id_process: Any = False
    repeated_id_owner: Any = "guest"
    with_sample_id: Any = False
    allow_info_share: Any = False
    info_owner: Any = "guest"

    @model_validator(mode="before")
    @classmethod
    def _move_deprecated(cls, values: Any) -> Any:
        """FATE's check(): deprecated top-level names fill the nested params they moved to; giving both the
        old and the new spelling is an error."""
        if not isinstance(values, dict):
            return values
        values = dict(values)
        rsa, raw = values.get("rsa_params") or {}, values.get("raw_params") or {}
        if not isinstance(rsa, dict) or not isinstance(raw, dict):
            return values  # the field validators name the malformed one
        rsa, raw = dict(rsa), dict(raw)
        if "random_bit" in values:
            if "random_bit" in rsa:
                raise ValueError("random_bit and rsa_params.random_bit should not be set simultaneously")
            rsa["random_bit"] = values["random_bit"]
        if "join_role" in values:
            if "join_role" in raw:
                raise ValueError("join_role and raw_params.join_role should not be set simultaneously")
            raw["join_role"] = values["join_role"]
        if "encode_params" in values or "with_encode" in values:
            if "with_encode" in values and "use_hash" in raw:
                raise ValueError("'raw_params' and 'encode_params' should not be set simultaneously.")
            if "raw_params" in values and "encode_params" in values:
                raise ValueError("'raw_params' and 'encode_params' should not be set simultaneously.")
            encode = values.get("encode_params") or {}
            if not isinstance(encode, dict):
                raise ValueError("encode_params must be an object")
            raw.update(use_hash=values.get("with_encode", False), hash_method=encode.get("encode_method", "none"),
                       salt=encode.get("salt", ""), base64=encode.get("base64", False))
        if "rsa_params" in values or rsa:
            values["rsa_params"] = rsa
        if "raw_params" in values or raw:
            values["raw_params"] = raw
        return values

    @field_validator("join_method")
    @classmethod
    def _left_join_syncs(cls, value: str, info: ValidationInfo) -> str:
        """A left join pads the other parties with the generator's rows, so they must learn the intersection."""
        if value == "left_join" and not info.data.get("sync_intersect_ids", True):
            raise ValueError("Cannot perform left join without sync intersect ids")
        return value

    @field_validator("cardinality_method")
    @classmethod
    def _cardinality_method(cls, value: Any, info: ValidationInfo) -> Any:
        if info.data.get("cardinality_only"):
            if value not in ("rsa", "dh", "ecdh"):
                raise ValueError("cardinality-only mode only support rsa, dh, ecdh.")
            rsa = info.data.get("rsa_params")
            if value == "rsa" and rsa is not None and rsa.split_calculation:
                raise ValueError("cardinality-only mode only supports unified calculation.")
        return value

    @field_validator("run_preprocess")
    @classmethod
    def _preprocess_not_cardinality(cls, value: bool, info: ValidationInfo) -> bool:
        if value and info.data.get("cardinality_only"):
            raise ValueError("cardinality_only mode cannot run preprocessing.")
        return value

    @field_validator("intersect_preprocess_params")
    @classmethod
    def _preprocess_rate(cls, value: PreprocessParams, info: ValidationInfo) -> PreprocessParams:
        if info.data.get("run_preprocess") and value.false_positive_rate < 0.01:
            raise ValueError("for preprocessing ids, false_positive_rate must be no less than 0.01")
        return value

    @field_validator("run_cache")
    @classmethod
    def _cache_combinations(cls, value: bool, info: ValidationInfo) -> bool:
        if value:
            rsa = info.data.get("rsa_params")
            if info.data.get("intersect_method") == "rsa" and rsa is not None and rsa.split_calculation:
                raise ValueError("RSA split_calculation does not support cache.")
            if info.data.get("cardinality_only"):
                raise ValueError("cache is not available for cardinality_only mode.")
            if info.data.get("run_preprocess"):
                raise ValueError("Preprocessing does not support cache.")
        return value

    @property
    def method(self) -> str:
        """The protocol this task runs: ``cardinality_method`` in cardinality-only mode, else ``intersect_method``."""
        return str(self.cardinality_method) if self.cardinality_only else self.intersect_method


RUNNER = "fate_flow.components.intersection.runner"

SPEC = ComponentSpec(
    module="Intersection",
    params=IntersectParams,
    runners={"guest": f"{RUNNER}:run_guest", "host": f"{RUNNER}:run_host"},
    inputs=Inputs(data=("data",), cache=True),
    outputs=Outputs(data=True, cache=True),
    stages=(TRAIN, PREDICT),  # keeps no model: a predict job runs it as a training job does
    preload=("gmpy2", "cryptography.hazmat.primitives.asymmetric.x25519",
             "cryptography.hazmat.primitives.asymmetric.rsa"),
    description="private set intersection of the parties' sample ids (rsa, dh, ecdh)",
)
