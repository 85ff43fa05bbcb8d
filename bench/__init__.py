"""thinkbench: accuracy versus thinking tokens, and what it costs."""

__version__ = "0.1.0"
