"""`bench perf`: the timed pairs that check speed goals."""
