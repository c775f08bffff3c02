"""Download: a table written back as a CSV file at ``output_path`` on this server's disk."""

from __future__ import annotations

from pathlib import Path

import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from fate_flow.components.context import ComponentContext, ComponentError
from fate_flow.components.tables import data_file, single_input


def run(ctx: ComponentContext) -> None:
    params = ctx.parameters
    if not (ctx.input_tables.get("data") or ctx.input_tables.get("table")):
        raise ComponentError(f"table {params.get('namespace')}.{params.get('name')} does not exist")
    meta = single_input(ctx, "data", "table")
    source = data_file(meta)
    output = Path(params["output_path"])
    output.parent.mkdir(parents=True, exist_ok=True)
    delimiter = params.get("delimiter") or meta.get("id_delimiter") or ","
    parquet = pq.ParquetFile(source)
    count = 0
    options = pacsv.WriteOptions(include_header=bool(meta.get("have_head", True)), delimiter=delimiter,
                                 quoting_style="none", quoting_header="none")
    with pacsv.CSVWriter(output, parquet.schema_arrow, write_options=options) as writer:
        for batch in parquet.iter_batches(batch_size=65536):
            writer.write_batch(batch)
            count += batch.num_rows
    ctx.logger.info("download: %s rows of %s.%s to %s", count, params.get("namespace"), params.get("name"), output)
