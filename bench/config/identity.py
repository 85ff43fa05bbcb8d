"""Which configs and runs are "the same": every rule in one place.

identity        the config keys that decide results (config_identity hashes
                them; a run without a run_name resumes the newest run of the
                same identity)
one run folder  what may not change between invocations of one run (budgets
                and problems may grow: records are keyed, so they add up)
shards          what must be equal across the shards `bench merge` joins
comparable      runs `bench compare` puts side by side: one suite, one problem set
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import typing
from collections.abc import Iterator
from typing import Any


def config_fields(cls: type | None = None, path: tuple[str, ...] = ()) -> Iterator[tuple]:
    """(key, dataclass field, is a nested config) for every field of the config
    schema, nested configs' own fields after them; under `engine`, the fields
    of every kind of engine."""
    from bench.config.engines import EngineConfig, engine_fields

    if cls is None:
        from bench.config.schema import Config

        cls = Config
    hints = typing.get_type_hints(cls)
    items = engine_fields().values() if cls is EngineConfig else dataclasses.fields(cls)
    for item in items:
        key = (*path, item.name)
        nested = dataclasses.is_dataclass(hints.get(item.name))
        yield key, item, nested
        if nested:
            yield from config_fields(hints[item.name], key)


def _classified() -> tuple[set[tuple[str, ...]], dict[tuple[str, ...], Any]]:
    """(keys not in the identity, added keys -> their neutral value), read from
    the config schema's field metadata (schema.setting, schema.added)."""
    from bench.config.fields import IDENTITY_KEY, NEUTRAL_INSIDE_KEY, NEUTRAL_KEY

    outside: set[tuple[str, ...]] = set()
    neutral: dict[tuple[str, ...], Any] = {}
    for key, item, _ in config_fields():
        if any(key[: len(o)] == o for o in outside):
            continue  # inside a setting: none of it decides results
        if item.metadata.get(IDENTITY_KEY) is False:
            outside.add(key)
            continue
        if NEUTRAL_KEY in item.metadata:
            neutral[key] = item.metadata[NEUTRAL_KEY]
        for name, value in item.metadata.get(NEUTRAL_INSIDE_KEY, {}).items():
            neutral[(*key, name)] = value
    return outside, neutral


# Config keys that change how a run is executed but not what it computes, and
# keys added after runs were stored at the value that computes what those runs
# computed (left out, so a stored run keeps its identity and resumes).
NOT_IN_IDENTITY, NEUTRAL = _classified()


def _every_engine_key(engine: Any) -> Any:
    """An engine section with the keys of every kind of engine: a key its kind
    has not stands at its default. Runs stored while one config held every
    engine's keys carry them all; a config of one kind's keys hashes as they do."""
    from bench.config.engines import ENGINES, engine_fields, field_default, foreign_keys

    kind = engine.get("kind") if isinstance(engine, dict) else None
    if not isinstance(kind, str) or kind not in ENGINES:
        return engine
    fields = engine_fields()
    missing = sorted(foreign_keys(kind) - set(engine))
    return {**{key: field_default(fields[key]) for key in missing}, **engine}


def comparable_config(config: dict[str, Any]) -> dict[str, Any]:
    """The config without what does not decide results: execution settings,
    new keys at their neutral value, and a non-thinking mode a thinking run
    does not use."""

    def strip(node: Any, path: tuple[str, ...]) -> Any:
        if not isinstance(node, dict):
            return node
        if path == ("engine",):
            node = _every_engine_key(node)
        kept = {}
        for k, v in node.items():
            key = path + (k,)
            if key in NOT_IN_IDENTITY or (key in NEUTRAL and v == NEUTRAL[key]):
                continue
            if key == ("model", "non_thinking") and node.get("thinking", True):
                continue
            kept[k] = strip(v, key)
        return kept

    return strip(config, ())


def config_identity(config: dict[str, Any]) -> str:
    """A hash of the config keys that determine results (not where or how fast they are made)."""
    blob = json.dumps(comparable_config(config), sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


# A run directory holds one model, engine and strategy.
SAME_IN_ONE_RUN = (("model",), ("engine", "kind"), ("engine", "device"), ("strategy",))


def differs_in_one_run(stored: dict[str, Any], config: dict[str, Any]) -> str | None:
    """The first key (dotted) in which `config` may not join a run of `stored`, or None."""
    stored, config = comparable_config(stored), comparable_config(config)
    for keys in SAME_IN_ONE_RUN:
        old, new = stored, config
        for key in keys:
            old, new = (old or {}).get(key), (new or {}).get(key)
        if old != new:
            return ".".join(keys)
    return None


# Versions that decide verdicts: shards graded by different ones do not merge.
GRADER_PACKAGES = ("thinkbench", "math-verify")
# What may differ between shards: which shard, where it was written.
PER_SHARD = {("shard",), ("run_name",), ("results_dir",)}


def _flatten(config: dict[str, Any], prefix: tuple[str, ...] = ()) -> dict[tuple[str, ...], Any]:
    flat: dict[tuple[str, ...], Any] = {}
    for key, value in config.items():
        path = (*prefix, key)
        if path in PER_SHARD:
            continue
        if isinstance(value, dict) and value:
            flat.update(_flatten(value, path))
        else:
            flat[path] = value
    return flat


def shard_fingerprint(manifest: dict[str, Any]) -> dict[str, Any]:
    """Everything that must be equal across shards, by a name a user can read."""
    facts: dict[str, Any] = {
        ".".join(path): value
        for path, value in _flatten(comparable_config(manifest.get("config") or {})).items()
    }
    facts["data (suite_sha256)"] = manifest.get("suite_sha256")
    facts["store version"] = manifest.get("store_version")
    engine = manifest.get("engine") or {}
    facts["engine version"] = engine.get("version")
    versions = manifest.get("versions") or {}
    for package in GRADER_PACKAGES:
        facts[f"grader version ({package})"] = versions.get(package)
    return facts


def incomparable(manifests: dict[str, dict[str, Any]]) -> str | None:
    """Why runs (name -> manifest) cannot be compared problem by problem, or None:
    they must be of one suite and one problem set (data_sha256)."""
    shas: dict[Any, set] = {}
    for manifest in manifests.values():
        suite = ((manifest.get("config") or {}).get("suite") or {}).get("name")
        shas.setdefault(suite, set()).add(manifest.get("data_sha256"))
    if len(shas) > 1:
        return (
            f"the runs are of different suites ({', '.join(sorted(map(str, shas)))}); "
            "compare runs of one suite on the same problems"
        )
    mixed = [suite for suite, found in shas.items() if len(found) > 1]
    if mixed:
        return (
            f"runs of suite {mixed[0]!r} used different problem sets (data_sha256 differs); "
            "compare runs with the same suite.limit/sample/data"
        )
    return None
