"""Configuration: the schemas, the checks they cannot express, and a run's identity."""
