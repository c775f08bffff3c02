"""FATE's toy example, SecureAddExample: guest and host add their numbers without revealing them.

Each party draws ``data_num`` numbers from its ``seed``, splits them into two random shares, keeps one
and sends the other to its peer; each adds the share it kept to the share it received, and the guest
adds its partial sum to the host's to get the total. Logged by ``secure_add_guest`` /
``secure_add_host`` (``flow test toy`` greps the guest's INFO.log for ``secure_add_guest``).
"""

from __future__ import annotations

from pydantic import Field

from fate_flow.framework import ComponentSpec, Params


class SecureAddExampleParams(Params):
    """FATE's SecureAddExampleParam."""

    seed: int | None = None
    partition: int = Field(1, ge=1)
    data_num: int = Field(1000, ge=1, le=100_000_000)


SPEC = ComponentSpec(
    module="SecureAddExample",
    params=SecureAddExampleParams,
    runners={"guest": "fate_flow.components.toy.secure_add_guest:run",
             "host": "fate_flow.components.toy.secure_add_host:run"},
    preload=("numpy",),
    description="FATE's toy job: a secure sum of two parties' random numbers",
)
