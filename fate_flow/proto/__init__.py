"""FATE's proxy messages and service (``proxy.proto``): the wire format between parties, generated code."""
