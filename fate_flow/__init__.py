"""A drop-in re-implementation of the FATE-Flow 1.x job-scheduling server."""

__version__ = "0.1.0"
# The FATE-Flow release whose wire contracts this server honours (reported by version/get).
FATE_FLOW_COMPAT_VERSION = "1.11.2"
