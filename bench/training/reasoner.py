"""Train the reference reasoner: a small Llama-format model whose accuracy
grows with its thinking budget by construction.

It is a calibration instrument, not a general reasoner: it solves chain
problems ("7+3-2+5=?", bench/tasks/chain.py) by writing every running value inside
<think>...</think>, then the result. A problem of k steps needs a known number
of thinking tokens; cut shorter, the answer is a guess. So the curve a sweep
measures has a truth to check it against (tests/training/test_reasoner.py).

The instant model (models/instant, `--instant 1 --grow_from models/reasoner
--layers 12`) is the other side of the tiered trade-off: the reasoner grown
to three times its depth and parameters (`grow`: the trained layers kept,
identity layers between them), the same tokenizer and chat template, then
trained to answer after an empty thinking block ("<think></think>13"). A
fixed number of layers can add only so many numbers in one pass, so it is
right on short chains and wrong on long ones; its recipe.json records by how
much, per chain length. From scratch, the answer alone (a digit or two an
example) taught it too slowly: one-step chains 0.48 right after 2,400 steps.

Training data: random chains of 1..12 steps; in a share of them (MERGE_RATE)
two steps are written as one ("+3-2=8"), so sampled chains differ in length
and majority voting has disagreeing samples to work with. Greedy decoding
writes one step at a time. The tokenizer is one token per character, with
<think> and </think> as single tokens (so vLLM's native thinking budget is
exact). Everything is seeded: the same command gives the same weights on the
same torch build.

    python -m bench.training.reasoner --out models/reasoner            # the shipped model
    python -m bench.training.reasoner --out models/instant --instant 1 --grow_from models/reasoner ...
    python -m bench.training.reasoner --out /tmp/r --steps 200         # a quick check
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

from bench.tasks.chain import MAX_STEPS, MIN_STEPS, SUITE_MAX_STEPS, Chain, random_chain
from bench.tasks.chain_steps import slipped

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
    # The slipping policy (models/slipper): each running value is off by 1..3
    # with this probability, the chain going on from it (bench/tasks/chain_steps.py);
    # no merged steps, so every step writes one value a verifier can check.
    "slip_rate": 0.0,
    "merge_rate": MERGE_RATE,
    # The context the saved config declares (RoPE needs no trained positions;
    # the chains end within ~100 tokens): more lets longer budgets be asked for.
    "serve_context": 256,
    # The instant model (models/instant): the share of examples answered at
    # once ("<think></think>ANSWER</s>"); the others are the reasoner's chains.
    "instant": 0.0,
    # A trained model's folder to start from (grown in depth, see `grow`); "" = from scratch.
    "grow_from": "",
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


def example(
    rng: random.Random,
    max_chain: int = MAX_STEPS,
    slip_rate: float = 0.0,
    merge_rate: float = MERGE_RATE,
    instant: float = 0.0,
) -> tuple[str, str]:
    """(prompt, completion) text of one training example: with probability
    `instant`, the question answered at once after an empty thinking block
    (the prompt ends as the non-thinking template and budget 0 end it)."""
    if instant and rng.random() < instant:
        # Chains of k steps with probability proportional to 1/k^2: the answer
        # is the only signal (a digit or two an example, against the
        # reasoner's every running value), so the short chains it can learn
        # in one pass come often; every length still comes.
        lengths = range(MIN_STEPS, max_chain + 1)
        steps = rng.choices(lengths, weights=[1 / k**2 for k in lengths])[0]
        chain = random_chain(rng, steps)
        return f"<s><|user|>{chain.question}<|assistant|><think></think>", f"{chain.answer}</s>"
    steps = rng.randint(MIN_STEPS, max_chain)
    chain: Chain = random_chain(rng, steps)
    prompt = f"<s><|user|>{chain.question}<|assistant|><think>"
    if slip_rate > 0:
        thinking, answer, _ = slipped(chain, rng, slip_rate)
        return prompt, f"{thinking}</think>{answer}</s>"
    merge = [rng.random() < merge_rate for _ in range(steps)]
    return prompt, f"{chain.thinking(merge)}</think>{chain.answer}</s>"


def _batch(
    rng: random.Random, tokenizer: Any, size: int, settings: dict[str, Any]
) -> tuple[Any, Any]:
    import torch

    rows, labels = [], []
    for _ in range(size):
        prompt, completion = example(
            rng,
            settings["max_chain"],
            settings["slip_rate"],
            settings["merge_rate"],
            float(settings.get("instant") or 0.0),
        )
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


def grow(model: Any, source: Path) -> None:
    """Start `model` from a trained model of the same width and fewer layers,
    as the same function: source layer i goes to layer i * (L / L_source),
    and every layer in between starts as the identity (its attention output
    and MLP down projections zero, so it adds nothing to the residual until
    training moves them). Depth up-scaling: the trained model's skills are
    kept, the new layers add room to compute more in one pass."""
    import torch
    from transformers import LlamaForCausalLM

    trained = LlamaForCausalLM.from_pretrained(source, torch_dtype=torch.float32)
    old, new = trained.model.layers, model.model.layers
    if len(new) % len(old) or trained.config.hidden_size != model.config.hidden_size:
        raise ValueError(
            f"--grow_from {source}: {len(old)} layers of width {trained.config.hidden_size} "
            f"cannot grow into {len(new)} of width {model.config.hidden_size}; give a "
            "multiple of its layers at its width"
        )
    spread = len(new) // len(old)
    with torch.no_grad():
        model.model.embed_tokens.weight.copy_(trained.model.embed_tokens.weight)
        model.model.norm.weight.copy_(trained.model.norm.weight)
        for i, layer in enumerate(new):
            if i % spread == 0:
                layer.load_state_dict(old[i // spread].state_dict())
            else:
                layer.self_attn.o_proj.weight.zero_()
                layer.mlp.down_proj.weight.zero_()


def warmup_cosine(optimizer: Any, total: int) -> Any:
    """A linear warm-up over the first 5% of steps, then a cosine decay to 0."""
    import torch

    warmup = max(1, total // 20)

    def rate(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, total - warmup)))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, rate)


def descend(optimizer: Any, schedule: Any, parameters: Any, loss: Any) -> None:
    """One optimizer step on `loss`, gradients clipped to norm 1."""
    import torch

    optimizer.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(parameters, 1.0)
    optimizer.step()
    schedule.step()


def complete(model: Any, tokenizer: Any, prompts: list[str], sample: bool) -> list[str]:
    """Each prompt's completion text, in one batched generate (left-padded),
    not a Python loop around it: greedy, or sampled at temperature 1."""
    import torch

    tokenizer.padding_side = "left"
    batch = tokenizer(prompts, add_special_tokens=False, padding=True, return_tensors="pt")
    options = {"do_sample": True, "temperature": 1.0, "top_k": 0, "top_p": 1.0} if sample else {}
    with torch.no_grad():
        out = model.generate(
            **batch,
            max_new_tokens=160,
            do_sample=sample,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
            **{k: v for k, v in options.items() if k != "do_sample"},
        )
    return [
        tokenizer.decode(row, skip_special_tokens=True)
        for row in out[:, batch["input_ids"].shape[1] :]
    ]


def train(settings: dict[str, Any], log_every: int = 100) -> tuple[Any, Any, list[float]]:
    """Train from scratch; returns (model, tokenizer, loss per logged step)."""
    import torch

    torch.manual_seed(settings["seed"])
    rng = random.Random(settings["seed"])
    tokenizer = build_tokenizer()
    model = build_model(tokenizer, settings)
    if settings.get("grow_from"):
        grow(model, Path(settings["grow_from"]))
    optimizer = torch.optim.AdamW(model.parameters(), lr=settings["lr"], weight_decay=0.01)
    total = settings["steps"]
    schedule = warmup_cosine(optimizer, total)
    losses: list[float] = []
    started = time.monotonic()
    model.train()
    for step in range(total):
        ids, target = _batch(rng, tokenizer, settings["batch"], settings)
        loss = model(input_ids=ids, labels=target).loss
        descend(optimizer, schedule, model.parameters(), loss)
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
    model: Any,
    tokenizer: Any,
    count: int = 64,
    seed: int = 99,
    max_chain: int = MAX_STEPS,
    instant: bool = False,
) -> dict[int, float]:
    """Greedy accuracy per chain length on fresh problems (no budget; with
    `instant`, answered at once after an empty thinking block)."""

    rng = random.Random(seed)
    chains = [
        random_chain(rng, MIN_STEPS + index % (max_chain - MIN_STEPS + 1)) for index in range(count)
    ]
    opening = "<think></think>" if instant else "<think>"
    prompts = [f"<s><|user|>{chain.question}<|assistant|>{opening}" for chain in chains]
    right: dict[int, list[bool]] = {}
    for chain, text in zip(chains, complete(model, tokenizer, prompts, sample=False), strict=True):
        answer = text.split("</think>")[-1].strip()
        right.setdefault(len(chain.steps), []).append(answer == str(chain.answer))
    return {k: sum(v) / len(v) for k, v in sorted(right.items())}


def sampled_slip_rate(
    model: Any, tokenizer: Any, count: int = 256, seed: int = 7, max_chain: int = MAX_STEPS
) -> dict[str, float]:
    """Sample chains at temperature 1 and read them against their questions
    (bench/chain_steps.step_labels): the per-step slip rate (a step's first
    mistake, over steps written while the chain still held), and the share of
    sampled answers that are right."""
    import torch

    from bench.tasks.chain_steps import step_labels

    rng = random.Random(seed)
    torch.manual_seed(seed)
    chains = [random_chain(rng, rng.randint(MIN_STEPS, max_chain)) for _ in range(count)]
    prompts = [f"<s><|user|>{chain.question}<|assistant|><think>" for chain in chains]
    at_risk = slips = right = 0
    for chain, text in zip(chains, complete(model, tokenizer, prompts, sample=True), strict=True):
        thinking, _, answer = text.partition("</think>")
        labels = step_labels(chain.question, thinking, answer)
        right += bool(labels and labels.answer_label)
        for label in labels.labels[1:] if labels else []:  # the start is copied, not computed
            at_risk += 1
            if not label:
                slips += 1
                break
    return {
        "per_step_slip_rate": round(slips / max(1, at_risk), 4),
        "steps_at_risk": at_risk,
        "sampled_accuracy": round(right / count, 4),
        "samples": count,
    }


def save(model: Any, tokenizer: Any, out: Path, settings: dict[str, Any], record: dict) -> None:
    import torch

    out.mkdir(parents=True, exist_ok=True)
    model.config.max_position_embeddings = settings["serve_context"]
    model.to(torch.float32).save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    what = (
        "thinkbench instant model: the reference reasoner grown to three times its depth "
        "(and parameters), then trained to answer chain problems after an empty thinking "
        "block; right on short chains, wrong on long ones (accuracy_by_steps)"
        if settings.get("instant")
        else "thinkbench slipping policy: the reference reasoner's recipe, with each running "
        f"value off by 1..3 at rate {settings['slip_rate']} in its training chains, so "
        "sampled chains slip at a known per-step rate while greedy ones stay right"
        if settings["slip_rate"]
        else "thinkbench reference reasoner: a calibration model for chain problems, "
        "not a general reasoner"
    )
    recipe = {
        "what": what,
        "command": f"python -m bench.training.reasoner --out {out} --seed {settings['seed']} "
        f"--steps {settings['steps']} --max_chain {settings['max_chain']}"
        + (
            f" --slip_rate {settings['slip_rate']} --merge_rate {settings['merge_rate']}"
            f" --serve_context {settings['serve_context']}"
            if settings["slip_rate"]
            else ""
        )
        + (
            f" --instant {settings['instant']} --grow_from {settings['grow_from']}"
            f" --layers {settings['layers']} --batch {settings['batch']} --lr {settings['lr']}"
            if settings.get("instant")
            else ""
        ),
        "settings": settings,
        "data": {
            "problems": f"bench/tasks/chain.py random_chain: start 0..99, 1..{settings['max_chain']} "
            "signed single-digit steps, values within 0..99"
            + (
                f"; a share of {settings['instant']} answered at once (k steps with probability "
                "proportional to 1/k^2), the rest thought through"
                if settings.get("instant")
                else ""
            ),
            "merge_rate": settings["merge_rate"],
            "slip_rate": settings["slip_rate"],
            "format": "<s><|user|>Q<|assistant|><think>CHAIN</think>ANSWER</s>"
            + (
                " and, answered at once, <s><|user|>Q<|assistant|><think></think>ANSWER</s>"
                if settings.get("instant")
                else ""
            ),
        },
        **record,
    }
    (out / "recipe.json").write_text(json.dumps(recipe, indent=2) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.training.reasoner", description=__doc__)
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
    by_steps = accuracy(
        model,
        tokenizer,
        args.eval,
        max_chain=settings["max_chain"],
        instant=settings["instant"] > 0,
    )
    overall = sum(by_steps.values()) / len(by_steps)
    print(f"trained in {seconds} s; greedy accuracy {overall:.3f} by steps {by_steps}")
    slips = {}
    if settings["slip_rate"]:
        slips = {"sampled": sampled_slip_rate(model, tokenizer, max_chain=settings["max_chain"])}
        print(f"sampled at temperature 1: {slips['sampled']}")
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
            **slips,
            "torch": torch.__version__,
        },
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
