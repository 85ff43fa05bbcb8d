"""Which folder a run goes to, and whether it may: resolve a run's folder
(its name, or the newest run of the same config to resume), check the folder
may hold it (under results_dir, writable, not someone else's, the same
model/engine/strategy and store version), and point results/latest at it.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Any

from bench.config.identity import differs_in_one_run
from bench.config.schema import Config, ConfigError
from bench.run.manifest import Manifest
from bench.run.store import MANIFEST, STORE_VERSION, read_manifest


def resolve_run_dir(cfg: Config, identity: str) -> Path:
    """results/<run_name>; without a name, the newest run with the same identity (resume) or a new one."""
    root = Path(cfg.results_dir)
    if cfg.run_name:
        return root / cfg.run_name
    candidates = []
    for manifest_path in root.glob(f"*/{MANIFEST}"):
        run_dir = manifest_path.parent
        try:
            if (
                not run_dir.is_symlink()
                and Manifest.of(read_manifest(run_dir)).identity == identity
            ):
                candidates.append(run_dir)
        except (OSError, ValueError):
            continue  # an unreadable folder is not the run we are looking for
    if candidates:
        return max(candidates, key=lambda p: p.stat().st_mtime)
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    # The identity suffix keeps two configs started in the same second apart (-m sweeps).
    return root / f"{stamp}_{cfg.model.name}_{cfg.suite.name}_{cfg.strategy.name}_{identity[:6]}"


def check_run_dir_compatible(run_dir: Path, config: dict[str, Any]) -> None:
    raw = read_manifest(run_dir)  # a damaged one: DamagedRunError, "bench repair"
    if raw is None:
        return
    manifest = Manifest.of(raw)
    stored, version = manifest.config.raw, manifest.store_version
    if version != STORE_VERSION:
        raise ConfigError(
            f"{run_dir} was written by store version {version}; this thinkbench reads version "
            f"{STORE_VERSION}: choose another run_name (or leave it unset)"
        )
    name = differs_in_one_run(stored, config)
    if name is not None:
        raise ConfigError(
            f"{run_dir} holds a run with a different {name}; choose another run_name "
            "(or leave it unset to get a new one)"
        )


def point_latest(run_dir: Path) -> None:
    """results/latest -> the run just finished (a link; never over a real folder)."""
    latest = run_dir.parent / "latest"
    if latest.exists() and not latest.is_symlink():
        print(f"note: {latest} is not a link; left as it is", flush=True)
        return
    tmp = run_dir.parent / f".latest.{os.getpid()}.tmp"
    if tmp.is_symlink() or tmp.exists():
        tmp.unlink()
    tmp.symlink_to(run_dir.name)
    os.replace(tmp, latest)


def prepare_run_dir(cfg: Config, run_dir: Path) -> None:
    """Check that `run_dir` may hold this run: under results_dir, in a folder we
    can write, not someone else's folder. One line on what is wrong."""
    root = Path(cfg.results_dir)
    if root.exists() and not root.is_dir():
        raise ConfigError(f"results_dir={root} is a file; point results_dir at a folder")
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(
            f"results_dir={root} cannot be created ({exc.strerror}); choose a writable folder"
        ) from None
    if not os.access(root, os.W_OK | os.X_OK):
        raise ConfigError(f"results_dir={root} is not writable; choose a writable folder")
    if not run_dir.resolve().parent == root.resolve():
        raise ConfigError(f"{run_dir} is not a folder of results_dir={root}")
    if run_dir.exists() and not run_dir.is_dir():
        raise ConfigError(f"{run_dir} is a file; choose another run_name")
    if run_dir.is_dir() and not (run_dir / MANIFEST).exists():
        # A run whose manifest was set aside (bench repair) still has its parts.
        layout = (run_dir / "generations").is_dir() or (run_dir / "grades").is_dir()
        # A run stopped by bad input before its manifest leaves its lock and
        # engine log; the same run_name then starts the run afresh.
        files = [p.name for p in run_dir.iterdir() if p.name not in (".lock", "engine.log")]
        if files and not layout:
            raise ConfigError(
                f"{run_dir} exists and is not a thinkbench run (it holds {files[0]!r}); "
                "choose another run_name"
            )
