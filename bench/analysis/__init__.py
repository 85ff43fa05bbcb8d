"""Everything derived from records: accuracy with confidence intervals, scaling tables."""
