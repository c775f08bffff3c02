"""The host's side of SecureAddExample (see the package docstring)."""

from __future__ import annotations

import logging

import numpy as np

from fate_flow.components.toy.shares import draw, split
from fate_flow.framework import Context

LOGGER = logging.getLogger("fate_flow.component.secure_add_host")


def run(ctx: Context) -> None:
    """Share with the guest, add, send the partial sum, and receive the total."""
    params = ctx.params
    LOGGER.info("begin to init parameters of secure add example host: %s", params.model_dump())
    values = draw(params.seed, params.data_num)
    LOGGER.info("host data made: %s numbers", values.size)
    kept, shared = split(values, params.seed)
    LOGGER.info("split data into two random parts")
    guest = ctx.guest
    guest.put("host_share", shared)
    LOGGER.info("share one random part data to guest")
    guest_share = guest.get("guest_share")
    LOGGER.info("get share of one random part data from guest")
    host_sum = float(np.sum(kept + guest_share))
    guest.put("host_sum", host_sum)
    LOGGER.info("send host sum to guest")
    total = guest.get("secure_sum")
    LOGGER.info("secure_sum received from guest: %.6f", total)
