"""TestModule: a component that sleeps, fails or succeeds on demand (scheduler and recovery tests).

Parameters: ``sleep`` seconds to run, ``fail`` (true or a message) to end with an error after
sleeping.
"""

from __future__ import annotations

import time

from fate_flow.components.context import ComponentContext, ComponentError


def run(ctx: ComponentContext) -> None:
    params = ctx.parameters
    ctx.logger.info("test module %s: sleep %s s, fail %s", ctx.component_name, params.get("sleep", 0),
                    params.get("fail", False))
    time.sleep(float(params.get("sleep", 0)))
    if params.get("fail"):
        message = params["fail"] if isinstance(params["fail"], str) else "failed on request"
        raise ComponentError(message)
