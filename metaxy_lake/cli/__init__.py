"""The ``mxl`` command line."""
