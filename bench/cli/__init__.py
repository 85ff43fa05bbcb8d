"""The `bench` command line: one argparse tree, Hydra for sweeps, exit codes."""
