"""The `bench` command.

bench sweep [hydra overrides...]   run a sweep (Hydra: model=..., suite=..., -m for many)
bench sweep --from-manifest PATH   re-run exactly what a run's manifest.json pinned
bench report RUN_DIR... [--pricing NAME]
                                   rebuild records, tables and plots; write RUN_DIR/report/
                                   (index.html, README.md, CSV/Markdown/LaTeX tables, PNG/SVG)
bench compare RUN_DIR... [--out DIR] [--pricing NAME]
                                   one report over several runs on the same problems
bench route RUN_DIR... [--out DIR] [--pricing NAME] [--splits N]
                                   routing policies (single, oracle, difficulty, cascades)
                                   scored on held-out problems -> routing.csv, .png, .md
bench grade RUN_DIR...             re-grade stored generations (after a grader fix), then report
bench merge RUN_DIR... --into DIR  join the shard runs of one sweep (shard=i/n) into one run
bench models list|prepare NAME     list model configs; convert/prepare one and print its folder
bench perf [--problems N]          measure speed ratios on the CPU engine -> results/perf/latest.json
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

CONFIG_DIR = Path(__file__).resolve().parent.parent / "configs"


def _fail(message: str, code: int = 2) -> int:
    print(f"error: {message}", file=sys.stderr)
    return code


GROUPS = ("model", "engine", "suite", "budget", "strategy", "pricing")


def group_options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONFIG_DIR / group).glob("*.yaml"))


def _one_line(exc: BaseException) -> str:
    """Hydra's and OmegaConf's errors span lines; keep the ones that name the problem."""
    text = f"{exc}\n{exc.__cause__ or ''}"
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    skip = ("full_key", "object_type", "reference_type", "Set the", "To append")
    keep = [ln for ln in lines if not ln.startswith(skip)]
    return "; ".join(dict.fromkeys(keep[:3]))


# Our launcher configs (configs/hydra/launcher/) and the plugin each needs.
LAUNCHER_PLUGINS = {
    "slurm": ("hydra_plugins.hydra_submitit_launcher", "hydra-submitit-launcher"),
    "ray_cluster": ("hydra_plugins.hydra_ray_launcher", "hydra-ray-launcher"),
}


def _launcher_problem(argv: list[str]) -> str | None:
    import importlib.util

    for arg in argv:
        if arg.startswith("hydra/launcher="):
            name = arg.partition("=")[2]
            module, package = LAUNCHER_PLUGINS.get(name, (None, None))
            if module is None:
                continue
            try:
                found = importlib.util.find_spec(module) is not None
            except ModuleNotFoundError:  # not even the hydra_plugins namespace
                found = False
            if not found:
                return f"hydra/launcher={name} needs the {package} plugin: pip install {package}"
    return None


def precheck(argv: list[str]) -> str | None:
    """Check overrides before Hydra starts, so a mistake costs one clear line, not a trace."""
    multirun = "-m" in argv or "--multirun" in argv
    problem = _launcher_problem(argv)
    if problem:
        return problem
    overrides = [a for a in argv if "=" in a and not a.startswith(("-", "hydra.", "hydra/"))]
    for override in overrides:
        key, _, value = override.partition("=")
        if key in GROUPS:
            options = group_options(key)
            for choice in value.split(",") if multirun else [value]:
                if choice not in options:
                    return f"{key}={choice} is not known; choose one of: {', '.join(options)}"
    if multirun:
        return None  # sweep values are checked when each job composes
    from hydra import compose, initialize_config_dir

    from bench.config import ConfigError, register, validate

    register()
    try:
        with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base=None):
            cfg = compose(config_name="config", overrides=overrides)
        validate(cfg)
    except ConfigError as exc:
        return str(exc)
    except Exception as exc:  # Hydra/OmegaConf: a misspelt key, a wrong type, bad syntax
        return _one_line(exc)
    return None


def sweep_from_manifest(path: str, overrides: list[str]) -> int:
    """Re-run the exact config a manifest pinned (key=value overrides still apply)."""
    import json

    from omegaconf import OmegaConf

    from bench.config import Config, ConfigError
    from bench.manifest import package_versions
    from bench.runner import run_sweep

    manifest_path = Path(path)
    if manifest_path.is_dir():
        manifest_path = manifest_path / "manifest.json"
    try:
        manifest = json.loads(manifest_path.read_text())
        cfg = OmegaConf.merge(OmegaConf.structured(Config), manifest["config"])
        # A re-run generates again, into its own folder, unless told otherwise.
        rerun_name = f"{manifest_path.resolve().parent.name}-repro"
        cfg = OmegaConf.merge(cfg, {"run_name": rerun_name}, OmegaConf.from_dotlist(overrides))
    except FileNotFoundError:
        return _fail(f"{path}: no manifest.json there; pass a run folder or its manifest.json")
    except (ValueError, KeyError) as exc:
        return _fail(f"{manifest_path}: not a thinkbench manifest ({_one_line(exc)})")
    except Exception as exc:  # an override naming no key, or of the wrong type
        return _fail(_one_line(exc))
    now = package_versions()
    for name, then in manifest.get("versions", {}).items():
        if then != now.get(name):
            print(f"note: {name} was {then} when the manifest was written, now {now.get(name)}")
    try:
        run_dir = run_sweep(cfg)
    except ConfigError as exc:
        return _fail(str(exc))
    print(f"done: {run_dir}")
    return 0


def _in_multirun() -> bool:
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


def run_job_in_subprocess() -> int:
    """This multirun job's overrides as a plain `bench sweep` in a new process."""
    import subprocess

    from hydra.core.hydra_config import HydraConfig

    overrides = list(HydraConfig.get().overrides.task)
    job = HydraConfig.get().job.num
    print(f"[job {job}] bench sweep {' '.join(overrides)}", flush=True)
    result = subprocess.run([sys.executable, "-m", "bench.cli", "sweep", *overrides])
    if result.returncode:
        print(f"[job {job}] failed with exit code {result.returncode}", file=sys.stderr, flush=True)
    return result.returncode


def sweep(argv: list[str]) -> int:
    if "--from-manifest" in argv:
        at = argv.index("--from-manifest")
        if at + 1 >= len(argv):
            return _fail(
                "--from-manifest needs a path, e.g. --from-manifest results/latest/manifest.json"
            )
        return sweep_from_manifest(argv[at + 1], argv[:at] + argv[at + 2 :])
    problem = precheck(argv)
    if problem:
        return _fail(problem)
    import hydra
    from omegaconf import DictConfig

    from bench.config import ConfigError, register
    from bench.engines.http import ServerRejected
    from bench.models import ModelSourceError
    from bench.runner import AdherenceError, RequestsFailedError, run_sweep
    from bench.store import DiskFullError
    from bench.tasks import TaskError

    register()
    status = {"code": 0}

    @hydra.main(config_path=str(CONFIG_DIR), config_name="config", version_base=None)
    def _main(cfg: DictConfig) -> None:
        if _in_multirun():
            # Each job in a process of its own: vLLM does not reliably give
            # GPU memory back in-process, so one model must not follow another.
            code = run_job_in_subprocess()
            status["code"] = max(status["code"], code)
            return
        try:
            run_dir = run_sweep(cfg)
        except (ConfigError, TaskError, ModelSourceError) as exc:
            status["code"] = _fail(str(exc))
            return
        except AdherenceError as exc:
            status["code"] = _fail(str(exc), 3)
            return
        except DiskFullError as exc:
            status["code"] = _fail(exc.strerror, 4)
            return
        except (RequestsFailedError, ServerRejected) as exc:
            status["code"] = _fail(str(exc), 5)
            return
        print(f"done: {run_dir}  (scaling.csv, accuracy_vs_thinking.png, records.parquet)")

    sys.argv = ["bench sweep", *argv]
    try:
        _main()
    except KeyboardInterrupt:
        return 130
    return status["code"]


def models(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bench models")
    sub = parser.add_subparsers(dest="action", required=True)
    sub.add_parser("list", help="list model configs")
    prepare = sub.add_parser("prepare", help="convert/prepare a model and print its folder")
    prepare.add_argument("name")
    args = parser.parse_args(argv)
    names = group_options("model")
    if args.action == "list":
        print("\n".join(names))
        return 0
    if args.name not in names:
        return _fail(f"model {args.name!r} is not known; choose one of: {', '.join(names)}")
    from omegaconf import OmegaConf

    from bench import models as models_mod

    source = OmegaConf.load(CONFIG_DIR / "model" / f"{args.name}.yaml").source
    try:
        print(models_mod.prepare(source))
    except models_mod.ModelSourceError as exc:
        return _fail(str(exc))
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    commands = ("sweep", "report", "compare", "route", "grade", "merge", "models", "perf")
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__)
        return 0
    command, rest = argv[0], argv[1:]
    if command == "sweep":
        return sweep(rest)
    if command in ("report", "grade"):
        if not rest:
            return _fail(f"bench {command} needs RUN_DIR..., e.g. bench {command} results/latest")
        from bench.cli_runs import report

        return report(rest, regrade=command == "grade")
    if command == "compare":
        from bench.cli_runs import compare

        return compare(rest)
    if command == "route":
        from bench.cli_runs import route

        return route(rest)
    if command == "merge":
        from bench.cli_runs import merge

        return merge(rest)
    if command == "models":
        return models(rest)
    if command == "perf":
        from bench.perf import main as perf_main

        return perf_main(rest)
    return _fail(f"unknown command {command!r}; choose one of: {', '.join(commands)}")


if __name__ == "__main__":
    sys.exit(main())
