"""The commands of ``mxl``, one module per area."""
