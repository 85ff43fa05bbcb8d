"""Train the reference reasoner: a small Llama-format model whose accuracy
grows with its thinking budget by construction.

It is a calibration instrument, not a general reasoner: it solves chain
problems ("7+3-2+5=?", bench/chain.py) by writing every running value inside
<think>...</think>, then the result. A problem of k steps needs a known number
of thinking tokens; cut shorter, the answer is a guess. So the curve a sweep
measures has a truth to check it against (tests/test_reasoner.py).

Training data: random chains of 1..12 steps; in a share of them (MERGE_RATE)
two steps are written as one ("+3-2=8"), so sampled chains differ in length
and majority voting has disagreeing samples to work with. Greedy decoding
writes one step at a time. The tokenizer is one token per character, with
<think> and </think> as single tokens (so vLLM's native thinking budget is
exact). Everything is seeded: the same command gives the same weights on the
same torch build.

    python -m bench.reasoner --out models/reasoner            # the shipped model
    python -m bench.reasoner --out /tmp/r --steps 200         # a quick check
"""

from __future__ import annotations

import argparse
import json
import math
import random
import string
import time
from pathlib import Path
from typing import Any

from bench.chain import MAX_STEPS, MIN_STEPS, SUITE_MAX_STEPS, Chain, random_chain

CONTROL = ["<pad>", "<s>", "</s>"]
MARKERS = ["<|user|>", "<|assistant|>", "<think>", "</think>"]
SPECIAL = [*CONTROL, *MARKERS]  # token ids 0..6
CHARACTERS = string.digits + "+-=?,. " + string.ascii_letters + ":;!()/*"
CHAT_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}"
    "{% if message['role'] == 'user' %}<|user|>{{ message['content'] }}"
    "{% elif message['role'] == 'assistant' %}<|assistant|>{{ message['content'] }}{{ eos_token }}"
    "{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|><think>"
    # A thinking switch like Qwen3's: enable_thinking=false closes the block at once.
    "{% if enable_thinking is defined and not enable_thinking %}</think>{% endif %}{% endif %}"
)
MERGE_RATE = 0.3
DEFAULTS = {
    "seed": 0,
    "steps": 3200,
    "batch": 48,
    "lr": 3e-3,
    "hidden": 128,
    "layers": 4,
    "heads": 4,  # head size 32: one vLLM's CPU attention supports
    "intermediate": 384,
    "context": 256,
    "max_chain": SUITE_MAX_STEPS,  # longest chain trained on: the suites' longest
}


def build_tokenizer() -> Any:
    """One token per character, plus the special tokens; with its chat template."""
    from tokenizers import AddedToken, Tokenizer, decoders, models
    from transformers import PreTrainedTokenizerFast

    vocab = {token: i for i, token in enumerate([*SPECIAL, *CHARACTERS])}
    core = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token=None, fuse_unk=False))
    core.add_special_tokens(CONTROL)
    # The role and thinking markers are single tokens but not "special", as in
    # Qwen3: decoded text keeps them, so "</think>" works as a stop string.
    core.add_tokens([AddedToken(t, special=False, normalized=False) for t in MARKERS])
    core.decoder = decoders.Fuse()
    return PreTrainedTokenizerFast(
        tokenizer_object=core,
        bos_token="<s>",
        eos_token="</s>",
        pad_token="<pad>",
        chat_template=CHAT_TEMPLATE,
        model_max_length=DEFAULTS["context"],
    )


def example(rng: random.Random, max_chain: int = MAX_STEPS) -> tuple[str, str]:
    """(prompt, completion) text of one training example."""
    steps = rng.randint(MIN_STEPS, max_chain)
    chain: Chain = random_chain(rng, steps)
    merge = [rng.random() < MERGE_RATE for _ in range(steps)]
    prompt = f"<s><|user|>{chain.question}<|assistant|><think>"
    return prompt, f"{chain.thinking(merge)}</think>{chain.answer}</s>"


def _batch(rng: random.Random, tokenizer: Any, size: int, max_chain: int) -> tuple[Any, Any]:
    import torch

    rows, labels = [], []
    for _ in range(size):
        prompt, completion = example(rng, max_chain)
        p = tokenizer(prompt, add_special_tokens=False)["input_ids"]
        c = tokenizer(completion, add_special_tokens=False)["input_ids"]
        rows.append(p + c)
        labels.append([-100] * len(p) + c)  # learn the completion only
    width = max(len(r) for r in rows)
    pad = tokenizer.pad_token_id
    ids = torch.tensor([r + [pad] * (width - len(r)) for r in rows])
    target = torch.tensor([lab + [-100] * (width - len(lab)) for lab in labels])
    return ids, target


def build_model(tokenizer: Any, settings: dict[str, Any]) -> Any:
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=settings["hidden"],
        intermediate_size=settings["intermediate"],
        num_hidden_layers=settings["layers"],
        num_attention_heads=settings["heads"],
        num_key_value_heads=settings["heads"],
        max_position_embeddings=settings["context"],
        rope_theta=10000.0,
        tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    return LlamaForCausalLM(config)


def train(settings: dict[str, Any], log_every: int = 100) -> tuple[Any, Any, list[float]]:
    """Train from scratch; returns (model, tokenizer, loss per logged step)."""
    import torch

    torch.manual_seed(settings["seed"])
    rng = random.Random(settings["seed"])
    tokenizer = build_tokenizer()
    model = build_model(tokenizer, settings)
    optimizer = torch.optim.AdamW(model.parameters(), lr=settings["lr"], weight_decay=0.01)
    total, warmup = settings["steps"], max(1, settings["steps"] // 20)

    def rate(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, total - warmup)))

    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, rate)
    losses: list[float] = []
    started = time.monotonic()
    model.train()
    for step in range(total):
        ids, target = _batch(rng, tokenizer, settings["batch"], settings["max_chain"])
        loss = model(input_ids=ids, labels=target).loss
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        if step % log_every == 0 or step == total - 1:
            losses.append(round(loss.item(), 4))
            print(
                f"step {step:5d}/{total}  loss {loss.item():.4f}  "
                f"{time.monotonic() - started:6.0f} s",
                flush=True,
            )
    model.eval()
    return model, tokenizer, losses


def accuracy(
    model: Any, tokenizer: Any, count: int = 64, seed: int = 99, max_chain: int = MAX_STEPS
) -> dict[int, float]:
    """Greedy accuracy per chain length on fresh problems (no budget)."""
    import torch

    rng = random.Random(seed)
    chains = [
        random_chain(rng, MIN_STEPS + index % (max_chain - MIN_STEPS + 1)) for index in range(count)
    ]
    prompts = [f"<s><|user|>{chain.question}<|assistant|><think>" for chain in chains]
    # One batched generate (left-padded), not a Python loop around it.
    tokenizer.padding_side = "left"
    batch = tokenizer(prompts, add_special_tokens=False, padding=True, return_tensors="pt")
    with torch.no_grad():
        out = model.generate(
            **batch,
            max_new_tokens=160,
            do_sample=False,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
        )
    right: dict[int, list[bool]] = {}
    for chain, row in zip(chains, out[:, batch["input_ids"].shape[1] :], strict=True):
        text = tokenizer.decode(row, skip_special_tokens=True)
        answer = text.split("</think>")[-1].strip()
        right.setdefault(len(chain.steps), []).append(answer == str(chain.answer))
    return {k: sum(v) / len(v) for k, v in sorted(right.items())}


def save(model: Any, tokenizer: Any, out: Path, settings: dict[str, Any], record: dict) -> None:
    import torch

    out.mkdir(parents=True, exist_ok=True)
    model.to(torch.float32).save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    recipe = {
        "what": "thinkbench reference reasoner: a calibration model for chain problems, "
        "not a general reasoner",
        "command": f"python -m bench.reasoner --out {out} --seed {settings['seed']} "
        f"--steps {settings['steps']} --max_chain {settings['max_chain']}",
        "settings": settings,
        "data": {
            "problems": f"bench/chain.py random_chain: start 0..99, 1..{settings['max_chain']} "
            "signed single-digit steps, values within 0..99",
            "merge_rate": MERGE_RATE,
            "format": "<s><|user|>Q<|assistant|><think>CHAIN</think>ANSWER</s>",
        },
        **record,
    }
    (out / "recipe.json").write_text(json.dumps(recipe, indent=2) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.reasoner", description=__doc__)
    parser.add_argument("--out", required=True, help="folder for the weights and tokenizer")
    for key, value in DEFAULTS.items():
        parser.add_argument(f"--{key}", type=type(value), default=value)
    parser.add_argument("--eval", type=int, default=64, help="problems to check afterwards")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(max(1, torch.get_num_threads()))
    settings = {key: getattr(args, key) for key in DEFAULTS}
    started = time.monotonic()
    model, tokenizer, losses = train(settings)
    seconds = round(time.monotonic() - started, 1)
    by_steps = accuracy(model, tokenizer, args.eval, max_chain=settings["max_chain"])
    overall = sum(by_steps.values()) / len(by_steps)
    print(f"trained in {seconds} s; greedy accuracy {overall:.3f} by steps {by_steps}")
    parameters = sum(p.numel() for p in model.parameters())
    save(
        model,
        tokenizer,
        Path(args.out),
        settings,
        {
            "train_seconds": seconds,
            "parameters": parameters,
            "losses": losses,
            "accuracy_by_steps": by_steps,
            "torch": torch.__version__,
        },
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
