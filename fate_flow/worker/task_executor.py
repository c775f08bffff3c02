"""A task's executor process: ``python -m fate_flow.worker.task_executor --config FILE``.

The server writes the task's config file and spawns this process (no shell). It reports
running, runs the component, and reports success or failed with the error. The database is never
touched here: every write goes through the server, which guards status transitions.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
import traceback
from pathlib import Path

from fate_flow import components
from fate_flow.components.context import ComponentContext, ComponentError
from fate_flow.engine.federation import Federation
from fate_flow.log import setup_executor_logging
from fate_flow.worker.server_client import ServerCallError, ServerClient

logger = logging.getLogger("fate_flow.executor")


def _client(config: dict) -> ServerClient:
    return ServerClient(
        config["server_url"], config["job_id"], config["component_name"], config["task_id"],
        config["task_version"], config["role"], config["party_id"], local_token=config.get("local_token", ""),
    )


def _context(config: dict, client: ServerClient) -> ComponentContext:
    return ComponentContext(
        job_id=config["job_id"],
        role=config["role"],
        party_id=config["party_id"],
        component_name=config["component_name"],
        task_id=config["task_id"],
        task_version=int(config["task_version"]),
        parameters=config["parameters"],
        tracker=client,
        table_version_dir=Path(config["table_version_dir"]),
        tables_dir=Path(config["tables_dir"]),
        module=config["module"],
        input_tables=config.get("input_tables", {}),
        output_data_names=config.get("output_data_names", []),
        roles=(config.get("federation") or {}).get("roles", {}),
        federation=Federation.from_config(config) if config.get("federation") else None,
        logger=logging.getLogger(f"fate_flow.component.{config['component_name']}"),
    )


def execute(config: dict) -> int:
    client = _client(config)
    start = time.time()
    client.report(party_status="running", run_pid=os.getpid())
    context = None
    try:
        context = _context(config, client)
        components.load(config["module"])(context)
    except (ComponentError, ServerCallError, ValueError) as exc:
        logger.error("component %s failed: %s", config["component_name"], exc)
        _report_end(client, "failed", start, str(exc))
        return 1
    except Exception as exc:  # noqa: BLE001 (any failure must reach the server)
        logger.error("component %s failed:\n%s", config["component_name"], traceback.format_exc())
        _report_end(client, "failed", start, f"{type(exc).__name__}: {exc}")
        return 1
    finally:
        if context is not None and context.federation is not None:
            context.federation.close()
    logger.info("component %s finished in %.3f s", config["component_name"], time.time() - start)
    _report_end(client, "success", start, None)
    return 0


def _report_end(client: ServerClient, status: str, start: float, error: str | None) -> None:
    body = {"party_status": status, "run_elapsed_ms": int((time.time() - start) * 1000)}
    if error:
        body["error_report"] = error[:4000]
    client.report(**body)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="task_executor")
    parser.add_argument("--config", required=True, type=Path)
    args = parser.parse_args(argv)
    config = json.loads(args.config.read_text())
    setup_executor_logging(Path(config["party_log_dir"]), Path(config["component_log_dir"]), config["job_id"])
    logger.info("executor pid %s starts %s (module %s)", os.getpid(), config["task_id"], config["module"])
    try:
        return execute(config)
    except ServerCallError as exc:
        logger.error("cannot reach the server: %s", exc)
        return 2


if __name__ == "__main__":
    sys.exit(main())
