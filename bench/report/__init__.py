"""Tables and figures written into a run directory, from its records alone."""
