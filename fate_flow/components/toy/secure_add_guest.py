"""The guest's side of SecureAddExample (see the package docstring)."""

from __future__ import annotations

import logging

import numpy as np

from fate_flow.components.context import ComponentContext
from fate_flow.components.toy.shares import TAG, data, peer, split

LOGGER = logging.getLogger("fate_flow.component.secure_add_guest")


def run(ctx: ComponentContext) -> None:
    LOGGER.info("begin to init parameters of secure add example guest: %s", ctx.parameters)
    values = data(ctx)
    LOGGER.info("guest data made: %s numbers", values.size)
    kept, shared = split(values, int(ctx.parameters.get("seed", 0)))
    LOGGER.info("split data into two random parts")
    host = peer(ctx, "host")
    ctx.federation.remote(shared, "guest_share", TAG, host)
    LOGGER.info("share one random part data to host")
    host_share = ctx.federation.get("host_share", TAG, host)[0]
    LOGGER.info("get share of one random part data from host")
    guest_sum = float(np.sum(kept + host_share))
    LOGGER.info("begin to get sum of guest and host")
    host_sum = float(ctx.federation.get("host_sum", TAG, host)[0])
    LOGGER.info("receive host sum from host")
    total = guest_sum + host_sum
    ctx.federation.remote(total, "secure_sum", TAG, host)
    LOGGER.info("success to calculate secure_sum, it is %.6f", total)
    ctx.tracker.save_metric_meta("secure_add", "secure_sum", {"name": "secure_sum", "metric_type": "SUM"})
    ctx.tracker.save_metric_data("secure_add", "secure_sum", [["sum", total]])
