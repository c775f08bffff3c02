"""The guest's side of SecureAddExample (see the package docstring)."""

from __future__ import annotations

import logging

import numpy as np

from fate_flow.components.toy.shares import draw, split
from fate_flow.framework import Context

LOGGER = logging.getLogger("fate_flow.component.secure_add_guest")


def run(ctx: Context) -> None:
    """Share with the host, add, and publish the secure sum as the metric ``secure_add/secure_sum``."""
    params = ctx.params
    LOGGER.info("begin to init parameters of secure add example guest: %s", params.model_dump())
    values = draw(params.seed, params.data_num)
    LOGGER.info("guest data made: %s numbers", values.size)
    kept, shared = split(values, params.seed)
    LOGGER.info("split data into two random parts")
    host = ctx.hosts[0]
    host.put("guest_share", shared)
    LOGGER.info("share one random part data to host")
    host_share = host.get("host_share")
    LOGGER.info("get share of one random part data from host")
    guest_sum = float(np.sum(kept + host_share))
    LOGGER.info("begin to get sum of guest and host")
    host_sum = float(host.get("host_sum"))
    LOGGER.info("receive host sum from host")
    total = guest_sum + host_sum
    host.put("secure_sum", total)
    LOGGER.info("success to calculate secure_sum, it is %.6f", total)
    ctx.metrics.scalars("secure_add", "secure_sum", {"sum": total}, metric_type="SUM")
