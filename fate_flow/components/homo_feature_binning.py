"""HomoFeatureBinning: clients (guest and hosts) holding the same features of different samples find common
split points, the quantiles of the union of their data, with the arbiter summing their counts by secure
aggregation; each client then bins its own data and, from its own labels, computes WOE and IV.

FATE 1.11's HomoFeatureBinningParam: HeteroFeatureBinning's parameters (``FeatureBinningParams``) with
``method`` ``virtual_summary`` (default) or ``recursive_query``, ``sample_bins`` (the query grid of
virtual_summary) and ``max_iter`` (at most 100). The protocol and what the arbiter learns:
``fate_flow.components._homo_feature_binning``.
"""

from __future__ import annotations

from pydantic import Field

from fate_flow.components.feature_binning import FeatureBinningParams
from fate_flow.framework import PREDICT, TRAIN, ComponentSpec, Inputs, Outputs
from fate_flow.ml.params import PositiveInt, choice

VIRTUAL_SUMMARY, RECURSIVE_QUERY = "virtual_summary", "recursive_query"
RUNNER = "fate_flow.components._homo_feature_binning"


class HomoFeatureBinningParams(FeatureBinningParams):
    """FATE's HomoFeatureBinningParam. ``error`` and ``max_iter`` are accepted as FATE checks them; the
    recursive query here finds exact order statistics (a 64-step bisection over the values' bit patterns),
    which satisfy any ``error``."""

    method: choice(VIRTUAL_SUMMARY, RECURSIVE_QUERY) = VIRTUAL_SUMMARY
    sample_bins: PositiveInt = 100
    max_iter: PositiveInt = Field(100, le=100)


SPEC = ComponentSpec(
    module="HomoFeatureBinning",
    params=HomoFeatureBinningParams,
    runners={"guest": f"{RUNNER}:run_client", "host": f"{RUNNER}:run_client", "arbiter": f"{RUNNER}:run_arbiter"},
    inputs=Inputs(data=("data", "train_data", "test_data"), model=True),
    outputs=Outputs(data=True, model=True),
    stages=(TRAIN, PREDICT),
    preload=("cryptography.hazmat.primitives.asymmetric.x25519", "numpy"),
    description="homogeneous feature binning: common quantiles from securely aggregated counts, WOE/IV per client",
)
