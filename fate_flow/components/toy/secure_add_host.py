"""The host's side of SecureAddExample (see the package docstring)."""

from __future__ import annotations

import logging

import numpy as np

from fate_flow.components.context import ComponentContext
from fate_flow.components.toy.shares import TAG, data, peer, split

LOGGER = logging.getLogger("fate_flow.component.secure_add_host")


def run(ctx: ComponentContext) -> None:
    LOGGER.info("begin to init parameters of secure add example host: %s", ctx.parameters)
    values = data(ctx)
    LOGGER.info("host data made: %s numbers", values.size)
    kept, shared = split(values, int(ctx.parameters.get("seed", 0)))
    LOGGER.info("split data into two random parts")
    guest = peer(ctx, "guest")
    ctx.federation.remote(shared, "host_share", TAG, guest)
    LOGGER.info("share one random part data to guest")
    guest_share = ctx.federation.get("guest_share", TAG, guest)[0]
    LOGGER.info("get share of one random part data from guest")
    host_sum = float(np.sum(kept + guest_share))
    ctx.federation.remote(host_sum, "host_sum", TAG, guest)
    LOGGER.info("send host sum to guest")
    total = ctx.federation.get("secure_sum", TAG, guest)[0]
    LOGGER.info("secure_sum received from guest: %.6f", total)
