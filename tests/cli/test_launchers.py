"""Scale-out launchers run for real: a local Ray head (loopback, this machine's
CPUs, no dashboard) started and stopped by these tests, and submitit's local
executor (the code path SLURM uses). Every launcher's records equal the basic
launcher's; a failing job is named and loses no other job's records."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd
import pytest
from helpers import CONFIG_DIR, bench
from hydra import compose, initialize_config_dir

from bench.config.engines import OpenAIEngineConfig, VLLMEngineConfig, job_cpus, job_gpus
from bench.config.schema import register

ray_plugin = pytest.importorskip("hydra_plugins.hydra_ray_launcher", reason="the scale extra")
pytest.importorskip("hydra_plugins.hydra_submitit_launcher", reason="the scale extra")

# A Ray head and launcher processes: minutes, not seconds.
pytestmark = pytest.mark.slow

# Everything Ray reads or writes lives in this session's own folder, and
# everything it starts talks over loopback (see ray_env).
RAY_ROOT = Path(tempfile.gettempdir()) / f"ray-{secrets.token_hex(3)}"  # short: socket paths
_real_cache = os.environ.get("XDG_CACHE_HOME", str(Path.home() / ".cache"))
ENV = dict(
    os.environ,
    RAY_USAGE_STATS_ENABLED="0",
    HF_HUB_OFFLINE="1",
    # A home of its own: a machine where a local Ray ran before has
    # ~/.ray/auth_token, which a fresh head would pick up and a client reject
    # ("InvalidAuthToken"); and nothing of these tests lands in the real ~.
    HOME=str(RAY_ROOT / "home"),
    XDG_CACHE_HOME=_real_cache,  # the converted models stay where they are
    RAY_TMPDIR=str(RAY_ROOT / "tmp"),  # not /tmp/ray
    # Token authentication with this session's own token, never a stored one.
    RAY_AUTH_MODE="token",
    RAY_AUTH_TOKEN=secrets.token_hex(32),
    # Ray turns 127.0.0.1 into the machine's interface address before it
    # connects, unless told it runs a one-machine cluster: this keeps every
    # driver and worker on loopback.
    RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="0",
    VLLM_HOST_IP="127.0.0.1",
)
FOUR_JOBS = (
    "engine=fake",
    "suite.limit=3",
    "budget.tokens=[16,64]",
    "model=smollm2-135m,qwen3-0.6b",
    "seed=0,1",
    "engine.show_progress=false",
    "summary=false",
    "report=false",
)


def multirun(results: Path, *overrides: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "bench.cli", "sweep", "-m", *overrides, f"results_dir={results}"],
        capture_output=True,
        text=True,
        env=ENV,
        timeout=timeout,
    )


def runs_by_identity(results: Path) -> dict[str, pd.DataFrame]:
    """Each run folder's records (timings dropped), keyed by its config identity."""
    found = {}
    for manifest in results.glob("*/manifest.json"):
        if manifest.parent.is_symlink():
            continue
        identity = json.loads(manifest.read_text())["identity"]
        frame = pd.read_parquet(manifest.parent / "records.parquet").drop(columns=["seconds"])
        found[identity] = frame.sort_values("key").reset_index(drop=True)
    return found


def assert_same_runs(got: Path, expected: Path, count: int) -> None:
    mine, theirs = runs_by_identity(got), runs_by_identity(expected)
    assert len(mine) == count and sorted(mine) == sorted(theirs)
    for identity, frame in mine.items():
        pd.testing.assert_frame_equal(frame, theirs[identity])


@pytest.fixture(scope="module")
def basic_four(tmp_path_factory):
    """The four jobs through Hydra's basic launcher: what every launcher must equal."""
    results = tmp_path_factory.mktemp("basic")
    result = multirun(results, *FOUR_JOBS)
    assert result.returncode == 0, result.stderr
    return results


@pytest.fixture(scope="module", autouse=True)
def ray_root():
    """The folder behind ENV's home and RAY_TMPDIR, made for this module's
    tests and removed after them."""
    (RAY_ROOT / "home").mkdir(parents=True)
    yield RAY_ROOT
    shutil.rmtree(RAY_ROOT, ignore_errors=True)


def _listening_sockets() -> dict[int, list[str]]:
    """pid -> the addresses its TCP sockets listen on (every process we can read)."""
    import ipaddress

    by_inode: dict[str, str] = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as f:
            for line in f.readlines()[1:]:
                fields = line.split()
                if fields[3] != "0A":  # LISTEN
                    continue
                raw = fields[1].split(":")[0]
                packed = bytes.fromhex(raw)
                # /proc writes each 32-bit word in host (little-endian) order.
                words = [packed[i : i + 4][::-1] for i in range(0, len(packed), 4)]
                by_inode[fields[9]] = str(ipaddress.ip_address(b"".join(words)))
    found: dict[int, list[str]] = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            for fd in (proc / "fd").iterdir():
                target = os.readlink(fd)
                if target.startswith("socket:["):
                    inode = target[8:-1]
                    if inode in by_inode:
                        found.setdefault(int(proc.name), []).append(by_inode[inode])
        except OSError:
            continue
    return found


def _ours(pid: int) -> bool:
    """A process this module started: it carries our RAY_TMPDIR."""
    try:
        environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return False
    return f"RAY_TMPDIR={ENV['RAY_TMPDIR']}".encode() in environ


def assert_everything_listens_on_loopback() -> None:
    import ipaddress

    ours = {pid: addresses for pid, addresses in _listening_sockets().items() if _ours(pid)}
    assert ours, "no listening process of this test's Ray was found"

    def loopback(address: str) -> bool:
        ip = ipaddress.ip_address(address)
        mapped = getattr(ip, "ipv4_mapped", None)  # ::ffff:127.0.0.1
        return (mapped or ip).is_loopback

    outside = {pid: [a for a in addresses if not loopback(a)] for pid, addresses in ours.items()}
    assert not any(outside.values()), f"listening beyond loopback: {outside}"


@pytest.fixture(scope="module")
def ray_head():
    """A Ray head on loopback with this machine's CPUs and no dashboard; stopped
    after. Its home holds a stale ~/.ray/auth_token, as on a machine where a
    local Ray ran before: the tests must not depend on it. Afterwards nothing
    is left in the real ~/.ray, in /tmp/ray, or in the session's own folder."""
    ray = Path(sys.executable).with_name("ray")
    real_ray_home, tmp_ray = Path.home() / ".ray", Path("/tmp/ray")
    existed = {path: path.exists() for path in (real_ray_home, tmp_ray)}
    stale = Path(ENV["HOME"]) / ".ray" / "auth_token"
    stale.parent.mkdir(parents=True, exist_ok=True)
    stale.write_text(secrets.token_hex(32))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    temp = Path(ENV["RAY_TMPDIR"])
    started = subprocess.run(
        [
            str(ray),
            "start",
            "--head",
            "--node-ip-address=127.0.0.1",
            f"--port={port}",
            f"--num-cpus={os.cpu_count() or 1}",
            "--num-gpus=0",
            "--include-dashboard=false",
            "--disable-usage-stats",
            f"--temp-dir={temp}",
        ],
        capture_output=True,
        text=True,
        env=ENV,
        timeout=180,
    )
    assert started.returncode == 0, started.stderr[-2000:]
    try:
        yield f"127.0.0.1:{port}"
    finally:
        subprocess.run([str(ray), "stop", "--force"], capture_output=True, env=ENV, timeout=120)
        shutil.rmtree(temp, ignore_errors=True)
    for path, was in existed.items():
        assert path.exists() == was, f"the Ray tests left {path} behind"


def test_every_ray_process_listens_on_loopback_only(ray_head, tmp_path):
    # After a job ran, the head's workers are up as well as its services.
    result = multirun(
        tmp_path, "hydra/launcher=ray", f"hydra.launcher.ray.init.address={ray_head}",
        "engine=fake", "suite.limit=2", "engine.show_progress=false", "summary=false",
        "report=false",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    assert "127.0.0.1" in result.stderr and "Connected to Ray cluster" in result.stderr
    assert_everything_listens_on_loopback()


def test_four_jobs_on_a_local_ray_head_equal_the_basic_launcher(ray_head, basic_four, tmp_path):
    result = multirun(
        tmp_path, "hydra/launcher=ray", f"hydra.launcher.ray.init.address={ray_head}", *FOUR_JOBS
    )
    assert result.returncode == 0, result.stderr
    assert "Connected to Ray cluster" in result.stderr and "all 4 jobs finished" in result.stdout
    # Each job ran in a Ray worker (Ray prefixes what its workers print).
    assert result.stdout.count("_run_job pid=") + result.stderr.count("_run_job pid=") >= 4
    assert_same_runs(tmp_path, basic_four, 4)


def test_a_failing_ray_job_is_named_and_the_others_keep_their_records(ray_head, tmp_path):
    result = multirun(
        tmp_path,
        "hydra/launcher=ray",
        f"hydra.launcher.ray.init.address={ray_head}",
        "engine=fake",
        "suite.limit=2,0",
        "engine.show_progress=false",
        "summary=false",
        "report=false",
    )
    assert result.returncode == 2
    assert "[job 1] failed (exit code 2): bench sweep engine=fake suite.limit=0" in result.stderr
    assert "1 of 2 jobs failed" in result.stderr
    stored = runs_by_identity(tmp_path)
    assert len(stored) == 1 and len(next(iter(stored.values()))) == 2 * 5


def test_three_shards_on_ray_merge_to_the_unsharded_run(ray_head, tmp_path):
    common = ("engine=fake", "suite.limit=11", "budget.tokens=[16,64]", "summary=false")
    whole = tmp_path / "whole"
    assert bench("sweep", *common, f"results_dir={whole}", "run_name=all").returncode == 0
    shards = tmp_path / "shards"
    result = multirun(
        shards,
        "hydra/launcher=ray",
        f"hydra.launcher.ray.init.address={ray_head}",
        *common,
        "shard=0/3,1/3,2/3",
        "report=false",
    )
    assert result.returncode == 0, result.stderr
    parts = [p for p in shards.iterdir() if p.is_dir() and not p.is_symlink() and "_" in p.name]
    assert len(parts) == 3
    merged = tmp_path / "merged"
    result = bench("merge", *map(str, parts), "--into", str(merged))
    assert result.returncode == 0, result.stderr
    mine = pd.read_parquet(merged / "records.parquet").drop(columns=["seconds"])
    theirs = pd.read_parquet(whole / "all" / "records.parquet").drop(columns=["seconds"])
    pd.testing.assert_frame_equal(
        mine.sort_values("key").reset_index(drop=True),
        theirs.sort_values("key").reset_index(drop=True),
    )


@pytest.mark.engine
def test_a_real_cpu_engine_job_through_ray(ray_head, tmp_path):
    result = multirun(
        tmp_path,
        "hydra/launcher=ray",
        f"hydra.launcher.ray.init.address={ray_head}",
        "model=reasoner",
        "suite=chain",
        "suite.limit=2",
        "budget.tokens=[16,64]",
        "engine.kv_cache_space_gib=1",
        "engine.show_progress=false",
        "summary=false",
        "report=false",
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    (run,) = runs_by_identity(tmp_path).values()
    assert len(run) == 2 * 2 and run["correct"].notna().all()
    manifest = json.loads(next(tmp_path.glob("*_reasoner_*/manifest.json")).read_text())
    assert manifest["engine"]["kind"] == "vllm" and manifest["status"] == "complete"


def test_four_jobs_through_submitit_local_equal_the_basic_launcher(basic_four, tmp_path):
    result = multirun(tmp_path, "hydra/launcher=submitit_local", *FOUR_JOBS)
    assert result.returncode == 0, result.stderr
    assert "all 4 jobs finished" in result.stdout
    assert list((tmp_path / ".submitit").iterdir())  # submitit's own job folders
    assert_same_runs(tmp_path, basic_four, 4)


def test_a_failing_submitit_job_is_named(tmp_path):
    result = multirun(
        tmp_path,
        "hydra/launcher=submitit_local",
        "engine=fake",
        "suite.limit=2,0",
        "engine.show_progress=false",
        "summary=false",
    )
    assert result.returncode == 2
    assert "[job 1] failed (exit code 2): bench sweep engine=fake suite.limit=0" in result.stderr


@pytest.mark.parametrize(
    "overrides, cpus, gpus",
    [
        (["engine=fake"], 1, 0),
        (["engine=openai"], 1, 0),  # no parallel sizes of its own
        (["engine=openai_chat", "strategy=api", "engine.device=cpu"], 1, 0),
        (["engine=vllm_cpu"], os.cpu_count() or 1, 0),
        (["engine=vllm"], 4, 1),
        (["engine=vllm", "engine.tensor_parallel_size=4", "engine.pipeline_parallel_size=2"], 4, 8),
    ],
)
def test_each_job_asks_for_what_its_engine_needs(overrides, cpus, gpus):
    register()
    for launcher in ("ray", "ray_cluster", "submitit_local", "slurm"):
        with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base=None):
            cfg = compose(
                config_name="config",
                overrides=[f"hydra/launcher={launcher}", *overrides],
                return_hydra_config=True,
            )
        launcher_cfg = cfg.hydra.launcher
        if launcher.startswith("ray"):
            assert launcher_cfg.ray.remote.num_gpus == gpus
            assert launcher_cfg.ray.remote.num_cpus == cpus
            assert launcher_cfg.ray.init.address == ("auto" if launcher == "ray_cluster" else None)
        else:
            assert launcher_cfg.gpus_per_node == gpus
    on_cpu = VLLMEngineConfig(
        kind="vllm", device="cpu", tensor_parallel_size=4, pipeline_parallel_size=2
    )
    assert job_gpus(on_cpu) == 0 and job_cpus(OpenAIEngineConfig(kind="openai")) == 1


@pytest.mark.parametrize("launcher", ["slurm", "submitit_local", "ray", "ray_cluster"])
def test_a_missing_launcher_plugin_is_one_line(tmp_path, launcher):
    """The plugin hidden from the import system, as on a machine without the extra."""
    package = "hydra-ray-launcher" if launcher.startswith("ray") else "hydra-submitit-launcher"
    module = package.replace("-", "_")
    hide = (
        "import sys, importlib.abc\n"
        "class Hide(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        f"        if name.startswith('hydra_plugins.{module}'):\n"
        "            raise ModuleNotFoundError(name)\n"
        "sys.meta_path.insert(0, Hide())\n"
        "from bench.cli.main import main\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", hide, "sweep", "-m", f"hydra/launcher={launcher}", "engine=fake",
         f"results_dir={tmp_path}"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"error: hydra/launcher={launcher} needs the {package} plugin: pip install {package}"
    )
