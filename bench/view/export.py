"""`bench view RUN --export DIR`: the same pages as a folder a static file
host serves, and a browser opens from file:// (where it refuses to fetch
local files, so every piece of data is a script file that hands its JSON to
the app: DIR/data/runs.js, problems-I.js, p/I/<hash>.js, one per problem,
loaded when the problem is opened).
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tqdm import tqdm

from bench.errors import UsageError
from bench.run.store import write_text_atomic
from bench.view.data import RunView
from bench.view.pages import prices_for, problem_list, problem_pages
from bench.view.server import STATIC


def _script(key: str, value: Any) -> str:
    """A data file: JSON handed to the app. JSON is valid JavaScript, and this
    file is loaded as a script of its own, never pasted into a page."""
    body = json.dumps(value, allow_nan=False, default=str, ensure_ascii=True)
    return f"TB.put({json.dumps(key)}, {body});\n"


def problem_file(problem_id: str) -> str:
    """A file name for any problem id (ids may hold / or anything else)."""
    return hashlib.sha1(problem_id.encode()).hexdigest()[:20] + ".js"


def export(runs: list[RunView], out: Path, progress: bool = True) -> Path:
    """Write the static view into `out`; returns its index.html."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--export {out}: a file is in the way; give a folder")
    if out.is_dir() and any(out.iterdir()) and not (out / "data" / "runs.js").is_file():
        raise UsageError(
            f"--export {out}: the folder holds other files; give an empty or new folder "
            "(or an earlier export, which is replaced)"
        )
    shutil.rmtree(out / "data", ignore_errors=True)
    (out / "data").mkdir(parents=True, exist_ok=True)
    for name in ("app.js", "app.css"):
        shutil.copyfile(STATIC / name, out / name)
    page = (STATIC / "index.html").read_text()
    page = page.replace('content="server"', 'content="static"')
    write_text_atomic(page, out / "index.html")
    write_text_atomic(_script("runs", [run.describe() for run in runs]), out / "data" / "runs.js")
    for i, run in enumerate(runs):
        _export_run(i, run, out / "data", progress)
    return out / "index.html"


def _export_run(i: int, run: RunView, data: Path, progress: bool) -> None:
    rows = problem_list(run)
    for row in rows:
        row["file"] = problem_file(row["id"])
    write_text_atomic(_script(f"problems/{i}", rows), data / f"problems-{i}.js")
    folder = data / "p" / str(i)
    folder.mkdir(parents=True, exist_ok=True)
    prices: Callable | None = prices_for(run)
    files = {row["id"]: row["file"] for row in rows}
    bar = tqdm(total=len(rows), desc=f"export {run.name}", unit="problem", disable=not progress)
    for pid, page in problem_pages(run, list(files), prices=prices):
        (folder / files[pid]).write_text(_script(f"problem/{i}/{pid}", page))
        bar.update()
    bar.close()
