"""dvts -- diverse verifier tree search: N/M independent subtrees, each
keeping the best of its M candidates at every step (search.py, search_plugin.py)."""

from __future__ import annotations

from bench.strategies.search_plugin import SearchPlugin


class Dvts(SearchPlugin):
    name = "dvts"
    summary = "n/beam_width independent subtrees, each keeps the PRM's best of beam_width"


PLUGIN = Dvts()
