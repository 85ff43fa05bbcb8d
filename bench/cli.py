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
bench repair RUN_DIR...            set damaged files aside (RUN/damaged/); a re-run regenerates them
bench runs [RESULTS_DIR] [--json]  the stored runs, one line each (status, records, when)
bench show RUN_DIR [--json]        the results table of one stored run
bench models list|prepare NAME     list model configs; convert/prepare one and print its folder
bench perf [--problems N]          measure speed ratios on the CPU engine -> results/perf/latest.json

Exit codes: 0 done; 2 bad input (config, arguments, data: one line says what);
3 budget adherence failed; 4 disk full (what was stored is intact); 5 served
requests still failing; 6 the run folder is being written by another process;
7 a damaged file in a run folder (bench repair); 130 interrupted (Ctrl-C);
143 terminated (SIGTERM). Both of the last store what finished first.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from bench.config import CONFIG_DIR

EXIT_BAD_INPUT, EXIT_ADHERENCE, EXIT_DISK_FULL, EXIT_REQUESTS = 2, 3, 4, 5
EXIT_LOCKED, EXIT_DAMAGED, EXIT_INTERRUPTED, EXIT_TERMINATED = 6, 7, 130, 143


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
SUBMITIT = ("hydra_plugins.hydra_submitit_launcher", "hydra-submitit-launcher")
RAY = ("hydra_plugins.hydra_ray_launcher", "hydra-ray-launcher")
LAUNCHER_PLUGINS = {
    "slurm": SUBMITIT,
    "submitit_local": SUBMITIT,
    "submitit_slurm": SUBMITIT,
    "ray": RAY,
    "ray_cluster": RAY,
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
    for arg in argv:
        if arg.startswith("~"):
            return (
                f"{arg}: deleting config keys is not supported; set the key instead, "
                f"e.g. {arg[1:].split('=')[0]}=..."
            )
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
    from bench.config import ConfigError
    from bench.configure import compose, validate

    try:
        cfg = compose(overrides)
        validate(cfg)
    except ConfigError as exc:
        return str(exc)
    except Exception as exc:  # Hydra/OmegaConf: a misspelt key, a wrong type, bad syntax
        return _one_line(exc)
    return _unknown_added_key(cfg, overrides)


def _unknown_added_key(cfg, overrides: list[str]) -> str | None:
    """`+budget.tokns=[16]` adds a key the schema does not have: a typo, not a
    setting. Keys may be added only where the schema has a mapping
    (model.prompts.<kind>, pricing.api.<model>)."""
    import dataclasses
    import difflib

    from omegaconf import OmegaConf

    for override in overrides:
        if not override.startswith("+"):
            continue
        path = override.lstrip("+").partition("=")[0].split(".")
        parent = OmegaConf.select(cfg, ".".join(path[:-1])) if len(path) > 1 else cfg
        schema = OmegaConf.get_type(parent) if parent is not None else None
        if schema is None or not dataclasses.is_dataclass(schema):
            continue  # a mapping: new keys are what it is for
        names = [f.name for f in dataclasses.fields(schema)]
        if path[-1] not in names:
            near = difflib.get_close_matches(path[-1], names, n=1)
            hint = f"; did you mean {'.'.join([*path[:-1], near[0]])}?" if near else ""
            where = ".".join(path[:-1]) or "the config"
            return f"{'.'.join(path)} is not a key of {where}{hint}"
    return None


def sweep_from_manifest(path: str, overrides: list[str]) -> int:
    """Re-run the exact config a manifest pinned (key=value overrides still apply)."""
    import json

    from omegaconf import OmegaConf

    from bench.config import ConfigError
    from bench.configure import structured, validate
    from bench.manifest import package_versions

    manifest_path = Path(path)
    if manifest_path.is_dir():
        manifest_path = manifest_path / "manifest.json"
    try:
        manifest = json.loads(manifest_path.read_text())
        cfg = structured(manifest["config"])
        # A re-run generates again, into its own folder, unless told otherwise.
        rerun_name = f"{manifest_path.resolve().parent.name}-repro"
        cfg = OmegaConf.merge(cfg, {"run_name": rerun_name}, OmegaConf.from_dotlist(overrides))
    except FileNotFoundError:
        return _fail(f"{path}: no manifest.json there; pass a run folder or its manifest.json")
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        return _fail(f"{manifest_path}: not a thinkbench manifest ({_one_line(exc)})")
    except Exception as exc:  # an override naming no key, or of the wrong type
        return _fail(_one_line(exc))
    now = package_versions()
    versions = manifest.get("versions")
    for name, then in (versions if isinstance(versions, dict) else {}).items():
        if then != now.get(name):
            print(f"note: {name} was {then} when the manifest was written, now {now.get(name)}")
    try:
        validate(cfg)
    except ConfigError as exc:
        return _fail(f"{manifest_path}: {exc}")
    except Exception as exc:  # a tampered value of the wrong type
        return _fail(f"{manifest_path}: {_one_line(exc)}")
    return run_and_report(cfg)


def run_and_report(cfg) -> int:
    """Run one sweep; every known failure is one line and a documented exit code."""
    from bench.config import ConfigError
    from bench.engine_log import log_hint
    from bench.engines.http import ServerRejected
    from bench.models import ModelSourceError
    from bench.runlock import RunLockedError
    from bench.runner import AdherenceError, RequestsFailedError, Sweep, Terminated
    from bench.store import DamagedRunError, DiskFullError
    from bench.tasks import TaskError

    try:
        sweep = Sweep(cfg)
        run_dir = sweep.run()
    except (ConfigError, TaskError, ModelSourceError) as exc:
        return _fail(str(exc), EXIT_BAD_INPUT)
    except AdherenceError as exc:
        return _fail(log_hint(exc), EXIT_ADHERENCE)
    except DiskFullError as exc:
        return _fail(exc.strerror, EXIT_DISK_FULL)
    except (RequestsFailedError, ServerRejected) as exc:
        return _fail(log_hint(exc), EXIT_REQUESTS)
    except RunLockedError as exc:
        return _fail(str(exc), EXIT_LOCKED)
    except DamagedRunError as exc:
        return _fail(str(exc), EXIT_DAMAGED)
    except Terminated:
        return EXIT_TERMINATED
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    print_summary(run_dir, cfg.summary, nothing_new=not sweep.generated)
    return 0


def print_summary(run_dir: Path, table: bool, nothing_new: bool = False) -> None:
    """The results table (read from the run's files), then one closing line."""
    from bench.report.summary import format_table, summary_rows

    if table:
        print(format_table(summary_rows(run_dir)))
    page = Path(run_dir) / "report" / "index.html"
    where = f"; report: {page}" if page.is_file() else ""
    fresh = " (nothing new: every attempt was stored)" if nothing_new else ""
    print(f"done: {run_dir}{fresh}{where}", flush=True)


def _terminate_like_interrupt() -> None:
    """SIGTERM (timeout, docker stop, SLURM) ends a sweep as Ctrl-C does:
    what finished is stored, then exit 143."""
    import signal

    from bench.runner import Terminated

    def handler(signum, frame):
        raise Terminated()

    signal.signal(signal.SIGTERM, handler)


def _in_multirun() -> bool:
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


def run_job_in_subprocess() -> int:
    """This multirun job's overrides as a plain `bench sweep` in a new process."""
    import signal
    import subprocess

    from hydra.core.hydra_config import HydraConfig

    from bench.runner import Terminated

    overrides = list(HydraConfig.get().overrides.task)
    job = HydraConfig.get().job.num
    print(f"[job {job}] bench sweep {' '.join(overrides)}", flush=True)
    # A launcher may run this on another process or node (Ray, submitit): work
    # where the sweep was started, when that folder is here too (a shared file system).
    cwd = os.environ.get(JOB_CWD)
    child = subprocess.Popen(
        [sys.executable, "-m", "bench.cli", "sweep", *overrides],
        cwd=cwd if cwd and os.path.isdir(cwd) else None,
    )
    try:
        code = child.wait()
    except KeyboardInterrupt as exc:  # Ctrl-C or SIGTERM: let the job store its work
        child.send_signal(signal.SIGTERM if isinstance(exc, Terminated) else signal.SIGINT)
        try:
            child.wait(timeout=120)
        except subprocess.TimeoutExpired:
            child.kill()
        raise
    if code:
        print(f"[job {job}] failed with exit code {code}", file=sys.stderr, flush=True)
    outcomes = os.environ.get(JOB_OUTCOMES)
    if outcomes and os.path.isdir(outcomes):
        # The launching process reads these: with Ray or submitit it cannot see our status.
        Path(outcomes, f"job-{job}.json").write_text(
            json.dumps({"job": job, "code": code, "overrides": overrides})
        )
    return code


# Set in every multirun job's environment (hydra.job.env_set) by the launching process.
JOB_CWD = "THINKBENCH_JOB_CWD"
JOB_OUTCOMES = "THINKBENCH_JOB_OUTCOMES"


def _multirun_outcomes(argv: list[str]) -> tuple[list[str], Path]:
    """The overrides that tell each job where to work and where to report."""
    import tempfile

    results = next((a.partition("=")[2] for a in argv if a.startswith("results_dir=")), "results")
    root = Path(results).resolve()
    root.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix=".jobs-", dir=root))
    extra = [
        f"++hydra.job.env_set.{JOB_CWD}={Path.cwd()}",
        f"++hydra.job.env_set.{JOB_OUTCOMES}={folder}",
    ]
    return extra, folder


def _report_outcomes(folder: Path) -> int:
    """Every job's exit code, however it was launched; failures named with their overrides."""
    import shutil

    outcomes = [json.loads(p.read_text()) for p in sorted(folder.glob("job-*.json"))]
    shutil.rmtree(folder, ignore_errors=True)
    failed = sorted((o for o in outcomes if o["code"]), key=lambda o: o["job"])
    for o in failed:
        print(
            f"[job {o['job']}] failed (exit code {o['code']}): bench sweep {' '.join(o['overrides'])}",
            file=sys.stderr,
            flush=True,
        )
    if failed:
        print(
            f"{len(failed)} of {len(outcomes)} jobs failed; the others' records are stored",
            file=sys.stderr,
            flush=True,
        )
    elif outcomes:
        print(f"all {len(outcomes)} jobs finished", flush=True)
    return max((o["code"] for o in failed), default=0)


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

    from bench.configure import register
    from bench.runner import Terminated

    register()
    status = {"code": 0}
    import warnings

    # Our launcher configs keep the plugins' names (hydra/launcher=ray,
    # submitit_local), which Hydra 1.3 matches to the plugins' schemas and warns about.
    warnings.filterwarnings("ignore", message="(?s).*validated against ConfigStore schema")

    @hydra.main(config_path=str(CONFIG_DIR), config_name="config", version_base=None)
    def _main(cfg: DictConfig) -> None:
        if _in_multirun():
            # Each job in a process of its own: vLLM does not reliably give
            # GPU memory back in-process, so one model must not follow another.
            code = run_job_in_subprocess()
            status["code"] = max(status["code"], code)
            return
        status["code"] = run_and_report(cfg)

    outcomes = None
    if "-m" in argv or "--multirun" in argv:
        extra, outcomes = _multirun_outcomes(argv)
        argv = [*argv, *extra]
    sys.argv = ["bench sweep", *argv]
    try:
        _main()
    except Terminated:
        return EXIT_TERMINATED
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    finally:
        reported = _report_outcomes(outcomes) if outcomes is not None else 0
    return max(status["code"], reported)


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


def repair(argv: list[str]) -> int:
    """bench repair RUN...: set damaged files aside so the next sweep regenerates them."""
    from bench.runlock import RunLock
    from bench.store import RunStore

    if not argv:
        return _fail("bench repair needs RUN_DIR..., e.g. bench repair results/latest")
    for raw in argv:
        run_dir = Path(raw)
        if not (run_dir / "generations").is_dir() and not (run_dir / "grades").is_dir():
            return _fail(f"{raw} is not a run directory (no generations/ or grades/ inside)")
        with RunLock(run_dir, "bench repair"):
            moved = RunStore(run_dir, create=False).repair()
        for path, reason in moved:
            print(f"{path}: {reason} -> set aside in {run_dir / 'damaged'}")
        print(
            f"{run_dir}: {len(moved)} damaged file(s) set aside"
            + ("; re-run the sweep to regenerate what they held" if moved else "; nothing to do")
        )
    return 0


def main(argv: list[str] | None = None) -> int:
    """Dispatch a command; known failures become one line and their exit code."""
    from bench.runlock import RunLockedError
    from bench.store import DamagedRunError, DiskFullError

    try:
        return _dispatch(argv)
    except DamagedRunError as exc:
        return _fail(str(exc), EXIT_DAMAGED)
    except RunLockedError as exc:
        return _fail(str(exc), EXIT_LOCKED)
    except DiskFullError as exc:
        return _fail(exc.strerror or str(exc), EXIT_DISK_FULL)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def _dispatch(argv: list[str] | None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    commands = (
        *("sweep", "report", "compare", "route", "grade", "merge", "repair", "runs", "show"),
        *("models", "perf"),
    )
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__)
        return 0
    command, rest = argv[0], argv[1:]
    if command == "sweep":
        _terminate_like_interrupt()
        return sweep(rest)
    if command == "repair":
        return repair(rest)
    if command in ("runs", "show"):
        from bench.cli_runs import runs, show

        return runs(rest) if command == "runs" else show(rest)
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
