"""HomoSecureBoost (alias HomoSecureboost, FATE's spelling in its predict DSL): FATE's gradient-boosted trees
over horizontally split data. The clients (guest and hosts) hold the same features of different samples, each
with labels; the arbiter grows every tree from securely summed histograms and never sees one client's.

The parameters are FATE 1.11's ``HomoSecureBoostParam`` (docs/fate-secureboost-1.11.md §1.4); the protocol is
in ``fate_flow.ml.homo_sbt`` and the runners in ``fate_flow.components._homo_secureboost``.
"""

from __future__ import annotations

from fate_flow.components.hetero_secureboost import BoostingParams
from fate_flow.framework import PREDICT, TRAIN, ComponentSpec, Inputs, Outputs
from fate_flow.ml.params import choice

RUNNER = "fate_flow.components._homo_secureboost"


class HomoSecureBoostParams(BoostingParams):
    """FATE's HomoSecureBoostParam: the shared boosting fields and ``backend``. ``backend`` chooses FATE's
    histogram builder (``memory``: a dense bin matrix in local memory); here both compute the same numpy
    histograms, so it is accepted and recorded."""

    backend: choice("distributed", "memory") = "distributed"


SPEC = ComponentSpec(
    module="HomoSecureBoost",
    aliases=("HomoSecureboost",),
    params=HomoSecureBoostParams,
    runners={"guest": f"{RUNNER}:run_client", "host": f"{RUNNER}:run_client", "arbiter": f"{RUNNER}:run_arbiter"},
    inputs=Inputs(data=("train_data", "validate_data", "test_data", "data"), model=True),
    outputs=Outputs(data=True, model=True),
    stages=(TRAIN, PREDICT),
    preload=("numpy", "cryptography.hazmat.primitives.asymmetric.x25519"),
    description="homo SecureBoost: gradient-boosted trees from securely aggregated histograms",
)
