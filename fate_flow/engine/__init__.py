"""What components compute and talk through: the object codec and the federation (data plane) API."""
