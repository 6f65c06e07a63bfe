"""Building blocks of the `trellis2` command line: device choice, user-facing errors, generation and outputs."""
