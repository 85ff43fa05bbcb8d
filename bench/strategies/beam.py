"""beam -- beam search over reasoning steps with a process reward model:
N paths, the best N/M kept and expanded M ways at every step
(search.py, search_plugin.py)."""

from __future__ import annotations

from bench.strategies.search_plugin import SearchPlugin


class Beam(SearchPlugin):
    name = "beam"
    summary = "beam search over steps: the PRM keeps the best n/beam_width, each expanded"


PLUGIN = Beam()
