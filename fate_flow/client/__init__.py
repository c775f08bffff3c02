"""FATE 1.5-style command-line client: ``fate_flow_client -f <function> [options]``.

The client prints the server's JSON answer (``json.dumps(..., indent=4)``) and exits non-zero when
``retcode`` is not 0. See ``docs/fate_flow_client.md``.
"""
