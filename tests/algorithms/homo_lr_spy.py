"""A test-only twin of HomoLR (module ``HomoLRSpy``) whose arbiter records every object it receives, to show
what crossed the data plane to it. Added to a test server with the ``components.modules`` setting; the
recording goes to ``$HOMO_LR_SPY_DIR/<job_id>.ffc`` (the codec's encoding of a list of
``[name, tag, role, party_id, object]``)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from fate_flow.components.homo_lr import SPEC as HOMO_LR
from fate_flow.components.homo_lr import HomoLRParams
from fate_flow.framework import ComponentSpec, Context

SPY_DIR_ENV = "HOMO_LR_SPY_DIR"
RUNNER = "fate_flow.components.homo_lr.runner:run_client"


class RecordingTransport:
    """The task's transport, keeping a copy of everything ``get`` returns."""

    def __init__(self, inner: Any):
        self.inner = inner
        self.received: list[list[Any]] = []

    def remote(self, obj: Any, name: str, tag: str, parties: list) -> None:
        self.inner.remote(obj, name, tag, parties)

    def __getattr__(self, name: str) -> Any:  # close() and whatever else the executor calls
        return getattr(self.inner, name)

    def get(self, name: str, tag: str, parties: list) -> list[Any]:
        objects = self.inner.get(name, tag, parties)
        for (role, party_id), obj in zip(parties, objects, strict=True):
            self.received.append([name, tag, role, str(party_id), obj])
        return objects


def run_arbiter(ctx: Context) -> None:
    """HomoLR's arbiter, recorded."""
    from fate_flow.components.homo_lr.runner import run_arbiter as arbiter
    from fate_flow.engine import codec

    recorder = RecordingTransport(ctx.exchange.transport)
    ctx.exchange.transport = recorder
    try:
        arbiter(ctx)
    finally:
        ctx.exchange.transport = recorder.inner
        Path(os.environ[SPY_DIR_ENV], f"{ctx.job_id}.ffc").write_bytes(codec.encode(recorder.received))


SPEC = ComponentSpec(module="HomoLRSpy", params=HomoLRParams,
                     runners={"guest": RUNNER, "host": RUNNER, "arbiter": f"{__name__}:run_arbiter"},
                     inputs=HOMO_LR.inputs, outputs=HOMO_LR.outputs, stages=HOMO_LR.stages,
                     description="HomoLR whose arbiter records what it receives (tests)")
