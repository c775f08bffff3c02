"""A task's executor process: ``python -m fate_flow.worker.task_executor --config FILE``.

The server writes the task's config (``entity.task_config.TaskConfig``) and spawns this process (no
shell). It reports running, builds the component's context from the config and the component's spec,
runs the runner of its role, and reports success or failed with the error. The database is never
touched here: every write goes through the server, which guards status transitions.

Only ``ComponentError`` (and ``ParamError``) is the user's error, reported as its message; anything
else is a bug or an outage and is logged with its traceback.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
import traceback
from pathlib import Path

from fate_flow.engine.computing import open_computing
from fate_flow.engine.federation import Federation
from fate_flow.entity.task_config import TaskConfig
from fate_flow.errors import ComponentError
from fate_flow.framework.context import Context
from fate_flow.framework.federation import Exchange
from fate_flow.framework.io import Inputs, NamedTableOutput, Outputs
from fate_flow.framework.metrics import Metrics
from fate_flow.framework.models import Models
from fate_flow.framework.registry import spec_from_source
from fate_flow.log import setup_executor_logging
from fate_flow.ml.paillier import parallel as paillier_parallel
from fate_flow.worker.server_client import ServerCallError, ServerClient

logger = logging.getLogger("fate_flow.executor")
MIN_REPORT_RETRY_S = 60.0
MAX_REPORT_PAUSE_S = 10.0


def _has_peers(config: TaskConfig) -> bool:
    me = (config.task.role, config.task.party_id)
    return any((role, str(p)) != me for role, ids in config.roles.items() for p in ids)


def build_context(config: TaskConfig, client: ServerClient) -> Context:
    """The component's context: typed parameters, tables, peers, metrics and models of this task."""
    spec = spec_from_source(config.spec_source, config.module)
    task = config.task
    computing = open_computing(config.computing_engine, config.cores, config.spark, app_name=task.task_id)
    if computing.name == "spark":  # the ciphertext arithmetic spread over cores runs in Spark's executors
        paillier_parallel.spread_over(computing.parallel_map)
    federation = Federation.for_task(config) if _has_peers(config) else None
    return Context(
        task=task, module=spec.module, stage=config.stage, params=spec.parse_params(config.parameters),
        cores=config.cores, computing=computing,
        inputs=Inputs(computing, config.input_tables, task.component_name),
        outputs=Outputs(computing, client, task, Path(config.tables_dir), config.output_data_names),
        models=Models(spec.module, Path(config.model_dir), config.input_models, client),
        metrics=Metrics(client),
        exchange=Exchange(federation, (task.role, task.party_id), config.roles),
        named_table=(NamedTableOutput(config.named_table, computing, client, task.job_id)
                     if config.named_table else None),
        server_files=config.server_files,
        logger=logging.getLogger(f"fate_flow.component.{task.component_name}"),
    )


def execute(config: TaskConfig) -> int:
    """Run the task and report its end; returns the process exit code."""
    client = ServerClient(config.server_url, config.task, local_token=config.local_token)
    name = config.task.component_name
    start = time.time()
    _report(client, {"party_status": "running", "run_pid": os.getpid()}, _report_deadline(config), _task_dir(config))
    context = None
    try:
        context = build_context(config, client)
        if context.params.need_run:
            spec_from_source(config.spec_source, config.module).runner(config.task.role)(context)
        else:
            _pass_data_through(context)
    except ComponentError as exc:
        logger.error("component %s failed: %s", name, exc)
        _report_end(client, config, "failed", start, str(exc))
        return 1
    except Exception as exc:  # noqa: BLE001 (any failure must reach the server)
        logger.error("component %s failed:\n%s", name, traceback.format_exc())
        _report_end(client, config, "failed", start, f"{type(exc).__name__}: {exc}")
        return 1
    finally:
        transport = context.exchange.transport if context is not None else None
        if transport is not None:
            transport.close()
        if context is not None:
            context.computing.close()
    logger.info("component %s finished in %.3f s", name, time.time() - start)
    _report_end(client, config, "success", start, None)
    return 0


def _pass_data_through(context: Context) -> None:
    """``need_run: false`` at this party: the first input table becomes the output, unchanged (as FATE does)."""
    for key in context.inputs.keys():  # noqa: SIM118 (Inputs is not a dict)
        table = context.inputs.get(key)
        if table is not None:
            context.outputs[0].write(table)
            logger.info("component %s does not run here (need_run false): its input %s is passed on",
                        context.component_name, key)
            return


def _report_deadline(config: TaskConfig) -> float:
    """Until when the final report is retried: as long as the job may run (at least a minute)."""
    return time.monotonic() + max(config.federation.get_timeout, MIN_REPORT_RETRY_S)


def _report_end(client: ServerClient, config: TaskConfig, status: str, start: float, error: str | None) -> None:
    """Report the task's end (see ``_report``)."""
    body = {"party_status": status, "run_elapsed_ms": int((time.time() - start) * 1000)}
    if error:
        body["error_report"] = error[:4000]
    _report(client, body, _report_deadline(config), _task_dir(config))


def _task_dir(config: TaskConfig) -> Path:
    """The task's directory in its server's home (where its config and model live)."""
    return Path(config.model_dir).parent


def _report(client: ServerClient, body: dict, deadline: float, task_dir: Path | None = None) -> None:
    """Report ``body``; a server that restarts or whose database fails meanwhile is asked again, with
    backoff, until ``deadline``: a task is never lost to a short outage, at its start or at its end. Not once
    the task's directory is gone: its server's home was removed, and no server will take the report (the
    job's timeout, days by default, is too long for a process to sleep for nothing)."""
    pause = 0.2
    while True:
        try:
            client.report(**body)
            return
        except ServerCallError as exc:
            if not exc.transient or time.monotonic() + pause > deadline:
                raise
            if task_dir is not None and not task_dir.is_dir():
                logger.error("cannot report %s (%s), and the task's directory %s is gone: giving up",
                             body["party_status"], exc, task_dir)
                raise
            logger.warning("reporting %s failed (%s); retrying in %.1f s", body["party_status"], exc, pause)
            time.sleep(pause)
            pause = min(pause * 2, MAX_REPORT_PAUSE_S)


def main(argv: list[str] | None = None) -> int:
    """Entry point: read the config, set up logging, execute."""
    parser = argparse.ArgumentParser(prog="task_executor")
    parser.add_argument("--config", required=True, type=Path)
    args = parser.parse_args(argv)
    config = TaskConfig.read(args.config)
    setup_executor_logging(Path(config.party_log_dir), Path(config.component_log_dir), config.task.job_id)
    logger.info("executor pid %s starts %s (module %s)", os.getpid(), config.task.task_id, config.module)
    try:
        return execute(config)
    except ServerCallError as exc:
        logger.error("cannot reach the server: %s", exc)
        return 2


if __name__ == "__main__":
    sys.exit(main())
