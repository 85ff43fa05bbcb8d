"""`bench perf`'s served pair: the reuse sweep through `vllm serve` and
engine=openai against the offline engine, same settings, records equal."""

from __future__ import annotations

import time
from typing import Any

from bench.perf.engine import _compose
from bench.strategies.job import Job


def served_overhead(problems: int, overrides: list[str]) -> dict[str, Any]:
    """One reuse sweep through `vllm serve` + engine=openai vs the offline
    engine, same prompts, budgets and engine settings, mirrored order, prefix
    caches reset before every run (the server's through its dev endpoint)."""
    import httpx

    from bench.config.engines import OpenAIEngineConfig
    from bench.engines import make_engine, models
    from bench.engines.openai import OpenAIEngine
    from bench.engines.serve import ServerProcess, free_port, serve_command, server_env
    from bench.strategies import SingleChain
    from bench.sweep.prompts import build_prompts, chain_settings, load_suite

    cfg = _compose([f"suite.limit={problems}", "engine.show_progress=false", *overrides])
    budgets = list(cfg.budget.tokens)
    loaded, specs = load_suite(cfg.suite)
    offline = make_engine(cfg.engine, cfg.model)
    prompts = [p.prompt_ids for p in build_prompts(offline, loaded, specs, cfg.model)]
    port = free_port()
    command = serve_command(cfg.engine, cfg.model, models.prepare(cfg.model.source), port)
    env = server_env(cfg.engine) | {"VLLM_SERVER_DEV_MODE": "1"}  # for /reset_prefix_cache
    server = ServerProcess(command, port, env)
    try:
        server.wait_ready()
        served = OpenAIEngine(
            OpenAIEngineConfig(
                kind="openai",
                device=cfg.engine.device,
                seed=cfg.engine.seed,
                show_progress=False,
                base_url=server.url,
                request_seeds=False,
            ),
            cfg.model,
        )
        strategy = SingleChain(chain_settings(cfg.model))
        for engine in (offline, served):  # start-up and kernel warm-up are not measured
            strategy.run(engine, Job.of(prompts[:4], budgets[:1]))

        def run(engine: Any) -> tuple[float, list[Any]]:
            if engine is offline:
                offline.reset_prefix_cache()
            else:
                httpx.post(f"http://127.0.0.1:{port}/reset_prefix_cache", timeout=60)
            started = time.perf_counter()
            results, _ = strategy.run(engine, Job.of(prompts, budgets))
            return time.perf_counter() - started, results

        seconds: dict[str, list[float]] = {"offline": [], "served": []}
        texts: dict[str, list[Any]] = {}
        for engine in (offline, served, served, offline):
            name = "offline" if engine is offline else "served"
            took, results = run(engine)
            seconds[name].append(took)
            texts[name] = [(r.attempt.thinking_text, r.attempt.answer_text) for r in results]
            print(f"  {name}: {took:.1f}s", flush=True)
        served.close()
    finally:
        server.stop()
        offline.close()
    same = sum(a == b for a, b in zip(texts["offline"], texts["served"], strict=True))
    mean = {name: sum(s) / len(s) for name, s in seconds.items()}
    return {
        "served_overhead_ratio": round(mean["served"] / mean["offline"], 4),
        "served_overhead_floor": 1.0,  # the same requests, one engine's settings
        "served_overhead_vs_floor": round(mean["served"] / mean["offline"], 4),
        "served_details": {
            "problems": len(prompts),
            "budgets": budgets,
            "offline_seconds": [round(s, 3) for s in seconds["offline"]],
            "served_seconds": [round(s, 3) for s in seconds["served"]],
            "attempts_identical": f"{same}/{len(texts['offline'])}",
        },
    }
