"""`bench merge SHARD_RUN... --into DIR`: the shards of one sweep (shard=i/n
on n machines) joined into one run, as if it had run in one piece.

Refused, with the key that differs, when the shards are not parts of the
same sweep: another model, engine, strategy, budgets or suite config, another
problem set (suite_sha256), another store or grader version (thinkbench and
math-verify), or an incomplete, missing or repeated shard. Records are keyed
without the shard, so merged records equal an unsharded run's.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pandas as pd

from bench.config.identity import config_identity, shard_fingerprint
from bench.config.schema import ConfigError
from bench.run.lock import RunLock
from bench.run.manifest import Manifest, add_engine_work
from bench.run.store import RunStore, read_manifest


# Package versions that decide verdicts: our grading code and its symbolic core.
def _shard_of(run_dir: Path, manifest: dict[str, Any]) -> tuple[int, int]:
    from bench.config.checks import parse_shard

    shard = parse_shard(Manifest.of(manifest).config.shard)
    if shard is None:
        raise ConfigError(f"{run_dir} is not a shard (its config has no shard=i/n)")
    return shard


def check_shards(run_dirs: list[Path]) -> list[tuple[Path, dict[str, Any]]]:
    """(run, manifest) in shard order; ConfigError naming the first problem."""
    manifests = []
    for run_dir in run_dirs:
        manifest = read_manifest(run_dir)
        if manifest is None:
            raise ConfigError(f"{run_dir} has no manifest.json; pass run folders of bench sweep")
        status = Manifest.of(manifest).status
        if status != "complete":
            raise ConfigError(f"{run_dir} is {status!r}, not complete: re-run its command first")
        manifests.append(manifest)
    first = shard_fingerprint(manifests[0])
    for run_dir, manifest in zip(run_dirs[1:], manifests[1:], strict=True):
        other = shard_fingerprint(manifest)
        # In config order (model first, its name first): the most telling difference.
        for key in list(first) + [k for k in other if k not in first]:
            if first.get(key) != other.get(key):
                raise ConfigError(
                    f"{run_dirs[0]} and {run_dir} differ in {key} "
                    f"({first.get(key)!r} vs {other.get(key)!r}): not shards of one sweep"
                )
    shards = [_shard_of(d, m) for d, m in zip(run_dirs, manifests, strict=True)]
    counts = {n for _, n in shards}
    if len(counts) > 1:
        raise ConfigError(f"the runs split the suite differently (shard counts {sorted(counts)})")
    count = counts.pop()
    seen: dict[int, Path] = {}
    for run_dir, (index, _) in zip(run_dirs, shards, strict=True):
        if index in seen:
            raise ConfigError(f"{seen[index]} and {run_dir} are both shard {index}/{count}")
        seen[index] = run_dir
    missing = [f"{i}/{count}" for i in range(count) if i not in seen]
    if missing:
        raise ConfigError(f"shard(s) {', '.join(missing)} missing; pass all {count} shard runs")
    order = sorted(range(len(shards)), key=lambda k: shards[k][0])
    return [(run_dirs[k], manifests[k]) for k in order]


def merge_runs(run_dirs: list[Path], into: Path) -> Path:
    """Write the merged run into `into` (generations, grades, manifest); the
    caller rebuilds records, tables and the report from them."""
    if into.exists() and not into.is_dir():
        raise ConfigError(f"--into {into} is a file; name a new folder, e.g. --into results/merged")
    for run_dir in run_dirs:
        if into.resolve() == Path(run_dir).resolve() or into.resolve().is_relative_to(
            Path(run_dir).resolve()
        ):
            raise ConfigError(
                f"--into {into} is (inside) the input run {run_dir}; name a new folder"
            )
    shards = check_shards(run_dirs)
    if read_manifest(into) is not None:
        raise ConfigError(f"{into} already holds a run; choose a new --into folder")
    if into.is_dir() and any(into.iterdir()):
        raise ConfigError(f"--into {into} is a folder with files in it; name a new or empty folder")
    run_dirs = [d for d, _ in shards]
    manifests = [m for _, m in shards]
    stores = [RunStore(d, create=False) for d in run_dirs]
    generations = pd.concat([s.generations() for s in stores], ignore_index=True)
    if not generations["key"].is_unique:
        raise ConfigError("the shards share records (same keys): they overlap, not split")
    grades = pd.concat([s.grades() for s in stores], ignore_index=True)
    lock = RunLock(into, "bench merge").acquire()
    try:
        merged = RunStore(into)
        merged.append_generations(generations.to_dict("records"))
        merged.append_grades(grades.to_dict("records"))
        _merged_manifest(merged, into, run_dirs, manifests)
    finally:
        lock.release()
    return into


def _merged_manifest(
    merged: RunStore, into: Path, run_dirs: list[Path], manifests: list[dict[str, Any]]
) -> None:
    manifest = dict(manifests[0])
    config = dict(manifest["config"]) | {"shard": None, "run_name": into.name}
    typed = [Manifest.of(m) for m in manifests]
    work: dict[str, Any] = {}
    for m in typed:
        work = add_engine_work(work, m.engine_work)
    manifest.update(
        config=config,
        identity=config_identity(config),
        shard=None,
        created=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        problems=sum(m.problems or 0 for m in typed),
        data_sha256=typed[0].suite_sha256,
        engine_work=work,
        wall_seconds=max(m.wall_seconds for m in typed),
        merged_from=[
            {"run": str(d), "shard": m.config.shard} for d, m in zip(run_dirs, typed, strict=True)
        ],
    )
    merged.write_manifest(manifest)
