"""What both sides of the toy do alike: draw the data, split it into two random shares."""

from __future__ import annotations

import numpy as np

from fate_flow.components.context import ComponentContext

TAG = "secure_add"


def data(ctx: ComponentContext) -> np.ndarray:
    params = ctx.parameters
    return np.random.default_rng(int(params.get("seed", 0))).random(int(params.get("data_num", 1000)))


def split(values: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Two shares that add up to ``values``; one alone says nothing about it."""
    noise = np.random.default_rng(seed + 1_000_003).uniform(-1e3, 1e3, values.shape)
    return values - noise, noise


def peer(ctx: ComponentContext, role: str) -> list[tuple[str, str]]:
    parties = ctx.parties(role)
    return parties[:1]
