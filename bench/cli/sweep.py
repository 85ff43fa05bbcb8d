"""`bench sweep`: check the overrides before Hydra starts, run one sweep (or
a multirun's jobs, each in a process of its own), re-run a manifest.

Every known failure becomes one line and its exit code (cli_errors.py).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from bench.cli.errors import EXIT_INTERRUPTED, EXIT_TERMINATED, exit_code
from bench.config.schema import CONFIG_DIR, GROUPS, group_options
from bench.errors import UsageError


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


# Hydra's flags that take the next word as their value (--info's is optional).
_VALUE_FLAGS = {
    *("--config-path", "-cp", "--config-name", "-cn", "--config-dir", "-cd"),
    *("--cfg", "-c", "--package", "-p", "--experimental-rerun"),
}
_INFO_FLAGS, _INFO_TOPICS = (
    ("--info", "-i"),
    (*("all", "config", "defaults", "defaults-tree", "plugins", "searchpath"),),
)


def _not_an_override(argv: list[str]) -> str | None:
    """A word that is neither key=value nor a flag (nor a flag's value)."""
    expects_value = False
    for i, arg in enumerate(argv):
        if expects_value or (arg in _INFO_TOPICS and i and argv[i - 1] in _INFO_FLAGS):
            expects_value = False
            continue
        if arg.startswith("-"):
            expects_value = arg in _VALUE_FLAGS
            continue
        if "=" not in arg and not arg.startswith("~"):  # ~key: a deletion, refused below
            return (
                f"{arg!r} is not an override; write key=value (e.g. model=reasoner "
                "budget.tokens=[16,64]), or +key=value to add a key"
            )
    return None


def precheck(argv: list[str]) -> str | None:
    """Check overrides before Hydra starts, so a mistake costs one clear line, not a trace."""
    multirun = "-m" in argv or "--multirun" in argv
    problem = _not_an_override(argv) or _launcher_problem(argv)
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
    from bench.sweep.compose import compose

    try:  # composing only: the config is validated once, when the sweep starts
        cfg = compose(overrides)
    except Exception as exc:  # Hydra/OmegaConf: a misspelt key, a wrong type, bad syntax
        return _other_engines_key(_one_line(exc)) or _one_line(exc)
    return _unknown_added_key(cfg, overrides)


def _other_engines_key(error: str) -> str | None:
    """`engine=vllm_cpu engine.base_url=...`: a key of another kind of engine,
    said as such (the schema's error names only a class)."""
    import re

    from bench.config.engines import ENGINES, foreign_keys

    found = re.search(r"Key '(\w+)' not in '(\w+)'", error)
    kind = next((k for k in ENGINES.values() if found and k.schema.__name__ == found[2]), None)
    if kind is None or found[1] not in foreign_keys(kind.name):
        return None
    owners = [k.name for k in ENGINES.values() if found[1] in k.schema.__dataclass_fields__]
    return (
        f"engine.{found[1]} is a key of {' and '.join(owners)} engines, not of {kind.name} "
        f"ones; choose such an engine (engine=NAME) or drop engine.{found[1]}"
    )


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
    from omegaconf import OmegaConf

    from bench.run.manifest import Manifest, package_versions
    from bench.run.store import read_manifest_file
    from bench.sweep.compose import structured

    manifest_path = Path(path)
    if manifest_path.is_dir():
        manifest_path = manifest_path / "manifest.json"
    if not manifest_path.is_file():
        raise UsageError(f"{path}: no manifest.json there; pass a run folder or its manifest.json")
    manifest = read_manifest_file(manifest_path)  # a field of the wrong type: damaged, exit 7
    try:
        cfg = structured(manifest["config"])
        # A re-run generates again, into its own folder, unless told otherwise.
        rerun_name = f"{manifest_path.resolve().parent.name}-repro"
        cfg = OmegaConf.merge(cfg, {"run_name": rerun_name}, OmegaConf.from_dotlist(overrides))
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise UsageError(f"{manifest_path}: not a thinkbench manifest ({_one_line(exc)})") from None
    except Exception as exc:  # an override naming no key, or of the wrong type
        raise UsageError(_one_line(exc)) from None
    then = Manifest.of(manifest).versions
    now = package_versions()
    changed = [
        f"{name} {then[name]} -> {now.get(name)}" for name in then if then[name] != now.get(name)
    ]
    if changed:
        print(
            f"warning: package versions differ from the manifest's ({', '.join(changed)}); "
            "the new manifest records both",
            file=sys.stderr,
            flush=True,
        )
    reproduces = {"manifest": str(manifest_path.resolve()), "versions": then}
    return run_and_report(cfg, source=str(manifest_path), reproduces=reproduces)


def run_and_report(cfg, source: str | None = None, reproduces: dict | None = None) -> int:
    """Run one sweep and print its summary. Inside Hydra's main nothing may
    escape as a traceback, so known failures become their line and exit code
    here. `source`: where the config came from (a manifest), named in its
    errors; `reproduces`: that manifest and its versions, kept in the new one."""
    from bench.config.schema import ConfigError
    from bench.sweep.runner import Sweep

    where = f"{source}: " if source else ""
    try:
        try:
            sweep = Sweep(cfg, reproduces=reproduces)  # validates the config, once
        except ConfigError as exc:
            raise UsageError(f"{where}{exc}") from None
        except Exception as exc:  # a value of the wrong kind (a tampered manifest)
            raise UsageError(f"{where}{_one_line(exc)}") from None
        run_dir = sweep.run()
    except BaseException as exc:
        code = exit_code(exc)
        if code is None:
            raise
        return code
    print_summary(run_dir, cfg.summary, nothing_new=not sweep.generated)
    return 0


def print_summary(run_dir: Path, table: bool, nothing_new: bool = False) -> None:
    """The results table (read from the run's files), then one closing line."""
    from bench.report.summary import run_table

    if table:
        print(run_table(run_dir))
    page = Path(run_dir) / "report" / "index.html"
    where = f"; report: {page}" if page.is_file() else ""
    fresh = " (nothing new: every attempt was stored)" if nothing_new else ""
    print(f"done: {run_dir}{fresh}{where}", flush=True)


def _terminate_like_interrupt() -> None:
    """SIGTERM (timeout, docker stop, SLURM) ends a sweep as Ctrl-C does:
    what finished is stored, then exit 143."""
    import signal

    from bench.errors import Terminated

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

    from bench.errors import Terminated

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


def sweep(argv: list[str], from_manifest: str | None = None) -> int:
    """`bench sweep OVERRIDES...` (Hydra's command line, -m included)."""
    _terminate_like_interrupt()
    if from_manifest is not None:
        return sweep_from_manifest(from_manifest, argv)
    problem = precheck(argv)
    if problem:
        raise UsageError(problem)
    import warnings

    import hydra
    from omegaconf import DictConfig

    from bench.errors import Terminated
    from bench.sweep.compose import register

    register()
    status = {"code": 0}
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
