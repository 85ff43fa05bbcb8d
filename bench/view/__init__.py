"""`bench view`: a browser view of every attempt of one or more runs (where
its thinking was cut, what it answered, why it was graded so), served on
loopback or exported as static files. data.py reads the run folders,
pages.py shapes the pages, server.py serves them, export.py writes them out;
the browser side is static/app.js."""

from __future__ import annotations

import argparse
from pathlib import Path


def view(args: argparse.Namespace) -> int:
    from bench.view.data import RunView

    runs = [RunView(Path(run)) for run in args.runs]
    if args.export:
        from bench.view.export import export

        index = export(runs, Path(args.export))
        print(f"exported {len(runs)} run(s): {index} (opens from file:// or any static host)")
        return 0
    from bench.view.server import serve

    return serve(runs, args.host, args.port)
