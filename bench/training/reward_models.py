"""The reference process reward model (PRM) and outcome reward model (ORM)
for chain problems, in the format of a published PRM family, and their
training.

Lightman et al. 2023 ("Let's Verify Step by Step") score every step of a
chain; Qwen2.5-Math-PRM (Zhang et al. 2025) does it with a Qwen2 model whose
two-class head is read at a step separator, `<extra_0>`, placed after each
step. Our reference PRM is that architecture (`Qwen2ForProcessRewardModel`,
which vLLM serves through its pooling runner with STEP pooling), small enough
to ship and to build on 2 cores, on a task whose right answer is known: a
step of a chain problem is good until the first wrong running value
(bench/tasks/chain_steps.py), and the answer is good when every step was and it is
the chain's true result.

Both models are the reference reasoner with a slip detector on top
(bench/training/reward_circuit.py: the reasoner's own prediction of each written
token, compared with the token); only the score head is trained here. The
PRM's head learns from a label at every step tag; the ORM is the same network
with its head trained on the outcome only: one tag after the answer,
labelled with whether the answer is right.

Training data: chains of 1..12 steps whose running values slip (off by 1..3,
the chain going on from there) at SLIP_RATE per step; a share are cut
mid-thinking, as a budget cuts them, and answered with the last value written
or a guess; a share of finished chains get a wrong answer. Written to
recipe.json: the held-out AUROC of the scores against the true labels, and
how often the best-scored of one problem's sampled chains is right
(`within_problem`), beside a random sample and the majority vote.

    python -m bench.training.reward_models --kind prm --out models/prm
    python -m bench.training.reward_models --kind orm --out models/orm
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path
from typing import Any

from bench.tasks.chain import MIN_STEPS, SUITE_MAX_STEPS, random_chain
from bench.tasks.chain_steps import slipped, step_labels
from bench.training import reward_circuit
from bench.training.reasoner import descend, warmup_cosine

STEP_TAG = "<extra_0>"  # Qwen2.5-Math-PRM's step separator
SLIP_RATE = 0.15  # in the training data: more bad steps to learn from than the policy makes
CUT_RATE = 0.3  # chains cut mid-thinking, as a budget cuts them
WRONG_ANSWER_RATE = 0.1  # finished chains answered with something else
GOOD, BAD = 1, 0  # the head's label index: score = P(GOOD)
WITHIN_SLIP_RATE = 0.08  # the slipping policy's (models/slipper) for the within-problem check
DEFAULTS = {
    "seed": 0,
    "steps": 300,
    "batch": 48,
    "lr": 3e-2,
    # The reasoner the slip detector reads (reward_circuit.py); a relative
    # path is the project's.
    "init": "models/reasoner",
}


def build_tokenizer() -> Any:
    """The reasoner's tokenizer (one token a character) with the step tag."""
    from tokenizers import AddedToken

    from bench.training.reasoner import build_tokenizer as reasoner_tokenizer

    tokenizer = reasoner_tokenizer()
    tokenizer.add_tokens([AddedToken(STEP_TAG, special=False, normalized=False)])
    return tokenizer


def prm_text(question: str, steps: list[str], answer: str) -> str:
    """The reference PRM's input: the policy's own layout, each step and the
    answer followed by the tag (where the policy writes its step delimiter)."""
    body = "".join(f"{step}{STEP_TAG}" for step in steps)
    return f"<s><|user|>{question}<|assistant|><think>{body}</think>{answer}{STEP_TAG}"


def orm_text(question: str, thinking: str, answer: str) -> str:
    """The reference ORM's input: the whole attempt, one tag after the answer."""
    return f"<s><|user|>{question}<|assistant|><think>{thinking}</think>{answer}{STEP_TAG}"


def example(rng: random.Random, kind: str) -> tuple[str, list[int]]:
    """(input text, one label per tag) of one training example."""
    chain = random_chain(rng, rng.randint(MIN_STEPS, SUITE_MAX_STEPS))
    thinking, answer_value, _ = slipped(chain, rng, SLIP_RATE)
    answer = str(answer_value)
    if rng.random() < CUT_RATE:
        thinking = thinking[: rng.randint(1, len(thinking))]
        written = [p.split("=")[-1] for p in thinking.split(",") if p]
        last = written[-1] if written and written[-1].lstrip("-").isdigit() else ""
        answer = last if last and rng.random() < 0.5 else str(rng.randint(0, 99))
    elif rng.random() < WRONG_ANSWER_RATE:
        answer = str((answer_value + rng.choice([-3, -2, -1, 1, 2, 3, 10])) % 100)
    labels = step_labels(chain.question, thinking, answer)
    assert labels is not None
    if kind == "orm":
        return orm_text(chain.question, thinking, answer), [int(labels.answer_label)]
    text = prm_text(chain.question, labels.steps, answer)
    return text, [int(x) for x in [*labels.labels, labels.answer_label]]


class RewardModel:
    """A Qwen2 backbone and Qwen2.5-Math-PRM's head (Linear, ReLU, Linear to 2
    labels), the module layout vLLM's Qwen2ForProcessRewardModel loads."""

    def __init__(self, tokenizer: Any, settings: dict[str, Any]) -> None:
        import torch
        from transformers import Qwen2Config, Qwen2Model

        self.config = Qwen2Config(
            vocab_size=settings.get("vocab_size") or len(tokenizer),
            hidden_size=settings["hidden"],
            intermediate_size=settings["intermediate"],
            num_hidden_layers=settings["layers"],
            num_attention_heads=settings["heads"],
            num_key_value_heads=settings["heads"],
            max_position_embeddings=settings["context"],
            tie_word_embeddings=False,
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
        )
        self.model = Qwen2Model(self.config)
        hidden = settings["hidden"]
        self.score = torch.nn.Sequential(
            torch.nn.Linear(hidden, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, 2)
        )

    def logits(self, ids: Any, mask: Any) -> Any:
        return self.score(self.hidden(ids, mask))

    def hidden(self, ids: Any, mask: Any) -> Any:
        return self.model(input_ids=ids, attention_mask=mask).last_hidden_state

    def state_dict(self) -> dict[str, Any]:
        """What is saved and served: the backbone and the head."""
        state = {f"model.{k}": v for k, v in self.model.state_dict().items()}
        state |= {f"score.{k}": v for k, v in self.score.state_dict().items()}
        return {k: v.detach().to("cpu").contiguous() for k, v in state.items()}

    @classmethod
    def load(cls, folder: Path) -> tuple[RewardModel, Any]:
        """A saved model and its tokenizer (a transformers forward pass, for
        checking vLLM's scores against)."""
        from safetensors.torch import load_file
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(folder)
        config = json.loads((Path(folder) / "config.json").read_text())
        settings = {
            # A reloaded tokenizer may carry its class's own extra special token.
            "vocab_size": config["vocab_size"],
            "hidden": config["hidden_size"],
            "intermediate": config["intermediate_size"],
            "layers": config["num_hidden_layers"],
            "heads": config["num_attention_heads"],
            "context": config["max_position_embeddings"],
        }
        made = cls(tokenizer, settings)
        state = load_file(str(Path(folder) / "model.safetensors"))
        made.model.load_state_dict({k[6:]: v for k, v in state.items() if k.startswith("model.")})
        made.score.load_state_dict({k[6:]: v for k, v in state.items() if k.startswith("score.")})
        made.model.eval()
        made.score.eval()
        return made, tokenizer


def step_scores(model: RewardModel, tokenizer: Any, texts: list[str]) -> list[list[float]]:
    """P(good) at every tag of each text: the transformers forward pass."""
    import torch

    tag = tokenizer.convert_tokens_to_ids(STEP_TAG)
    out = []
    with torch.no_grad():
        for text in texts:
            ids = torch.tensor([tokenizer(text, add_special_tokens=False)["input_ids"]])
            probs = torch.softmax(model.logits(ids, torch.ones_like(ids)).float(), dim=-1)[0]
            out.append(probs[ids[0] == tag, GOOD].tolist())
    return out


def _batch(rng: random.Random, tokenizer: Any, size: int, kind: str) -> tuple[Any, Any, Any]:
    import torch

    tag = tokenizer.convert_tokens_to_ids(STEP_TAG)
    rows, targets = [], []
    for _ in range(size):
        text, labels = example(rng, kind)
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        target = [-100] * len(ids)
        positions = [i for i, t in enumerate(ids) if t == tag]
        for position, label in zip(positions, labels, strict=True):
            target[position] = label
        rows.append(ids)
        targets.append(target)
    width = max(len(r) for r in rows)
    pad = tokenizer.pad_token_id
    ids = torch.tensor([r + [pad] * (width - len(r)) for r in rows])
    mask = torch.tensor([[1] * len(r) + [0] * (width - len(r)) for r in rows])
    target = torch.tensor([t + [-100] * (width - len(t)) for t in targets])
    return ids, mask, target


def train(kind: str, settings: dict[str, Any], log_every: int = 50) -> tuple[Any, Any, list]:
    """The reasoner and its slip detector (reward_circuit.py), then the score
    head trained on labels; returns (model, tokenizer, loss
    per logged step)."""
    import torch

    from bench.paths import PROJECT_ROOT

    torch.manual_seed(settings["seed"])
    rng = random.Random(settings["seed"])
    tokenizer = build_tokenizer()
    model = RewardModel(tokenizer, reward_circuit.SETTINGS)
    reward_circuit.build(model, tokenizer, PROJECT_ROOT / settings["init"], STEP_TAG)
    parameters = reward_circuit.trainable(model)
    optimizer = torch.optim.AdamW(parameters, lr=settings["lr"], weight_decay=0.0)
    total = settings["steps"]
    schedule = warmup_cosine(optimizer, total)
    losses: list[float] = []
    started = time.monotonic()
    for step in range(total):
        ids, mask, target = _batch(rng, tokenizer, settings["batch"], kind)
        loss = torch.nn.functional.cross_entropy(
            model.logits(ids, mask).view(-1, 2), target.view(-1)
        )
        descend(optimizer, schedule, parameters, loss)
        if step % log_every == 0 or step == total - 1:
            losses.append(round(loss.item(), 4))
            print(
                f"{kind} step {step:5d}/{total}  label loss {loss.item():.4f}  "
                f"{time.monotonic() - started:6.0f} s",
                flush=True,
            )
    model.model.eval()
    model.score.eval()
    return model, tokenizer, losses


def auroc(scores: list[float], labels: list[int]) -> float:
    """Area under the ROC curve: the chance a good step outscores a bad one (ties half)."""
    good = [s for s, y in zip(scores, labels, strict=True) if y]
    bad = [s for s, y in zip(scores, labels, strict=True) if not y]
    if not good or not bad:
        return float("nan")
    wins = sum((g > b) + 0.5 * (g == b) for g in good for b in bad)
    return wins / (len(good) * len(bad))


def held_out(model: Any, tokenizer: Any, kind: str, count: int = 400, seed: int = 12345) -> dict:
    """AUROC and accuracy (threshold 0.5) of the scores on fresh examples."""
    rng = random.Random(seed)
    examples = [example(rng, kind) for _ in range(count)]
    scores = step_scores(model, tokenizer, [text for text, _ in examples])
    flat_scores = [s for row in scores for s in row]
    flat_labels = [y for _, labels in examples for y in labels]
    right = sum((s >= 0.5) == bool(y) for s, y in zip(flat_scores, flat_labels, strict=True))
    return {
        "auroc": round(auroc(flat_scores, flat_labels), 4),
        "accuracy": round(right / len(flat_labels), 4),
        "scored": len(flat_labels),
        "bad_share": round(1 - sum(flat_labels) / len(flat_labels), 4),
        "examples": count,
    }


def within_problem(
    model: Any,
    tokenizer: Any,
    kind: str = "prm",
    problems: int = 60,
    samples: int = 8,
    rate: float = WITHIN_SLIP_RATE,
    seed: int = 5,
) -> dict:
    """What a verifier is for: among one problem's sampled chains (8..12
    steps, slipping at the policy's rate), how often the best-scored one is
    right, by its answer's score (`last`) and by its lowest step (`min`),
    beside a random sample and the majority vote. The ORM reads its own
    input, one score at the answer's tag (so `last` and `min` agree)."""
    from collections import Counter

    rng = random.Random(seed)
    picked: dict[str, list[bool]] = {"last": [], "min": []}
    random_pick, majority = [], []
    for _ in range(problems):
        chain = random_chain(rng, rng.randint(8, SUITE_MAX_STEPS))
        written = [slipped(chain, rng, rate) for _ in range(samples)]
        texts, right = [], []
        for thinking, answer, _ in written:
            labels = step_labels(chain.question, thinking, str(answer))
            assert labels is not None
            texts.append(
                prm_text(chain.question, labels.steps, str(answer))
                if kind == "prm"
                else orm_text(chain.question, thinking, str(answer))
            )
            right.append(labels.answer_label)
        scores = step_scores(model, tokenizer, texts)
        for name, pick in (("last", lambda s: s[-1]), ("min", min)):
            values = [pick(row) for row in scores]
            picked[name].append(right[max(range(samples), key=values.__getitem__)])
        random_pick.append(sum(right) / samples)
        vote = Counter(answer for _, answer, _ in written).most_common(1)[0][0]
        majority.append(vote == chain.answer)
    share = lambda values: round(sum(values) / len(values), 4)  # noqa: E731
    return {
        "best_by_answer_score": share(picked["last"]),
        "best_by_lowest_step": share(picked["min"]),
        "random_sample": share(random_pick),
        "majority_vote": share(majority),
        "problems": problems,
        "samples": samples,
        "slip_rate": rate,
        "steps": "8..12",
    }


def save(model: RewardModel, tokenizer: Any, out: Path, kind: str, record: dict) -> None:
    from safetensors.torch import save_file

    out.mkdir(parents=True, exist_ok=True)
    save_file(model.state_dict(), str(out / "model.safetensors"))
    config = model.config.to_dict() | {
        "architectures": ["Qwen2ForProcessRewardModel"],
        "num_labels": 2,
        "torch_dtype": "float32",
    }
    (out / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    tokenizer.save_pretrained(out)
    (out / "recipe.json").write_text(json.dumps(record, indent=2) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.training.reward_models", description=__doc__
    )
    parser.add_argument("--kind", choices=("prm", "orm"), required=True)
    parser.add_argument("--out", required=True, help="folder for the weights and tokenizer")
    for key, value in DEFAULTS.items():
        parser.add_argument(f"--{key}", type=type(value), default=value)
    args = parser.parse_args(argv)
    import torch

    settings = {key: getattr(args, key) for key in DEFAULTS}
    started = time.monotonic()
    model, tokenizer, losses = train(args.kind, settings)
    seconds = round(time.monotonic() - started, 1)
    check = held_out(model, tokenizer, args.kind)
    within = within_problem(model, tokenizer, args.kind)
    print(f"trained in {seconds} s; held out: {check}; within a problem: {within}")
    flags = " ".join(f"--{k} {v}" for k, v in settings.items() if v != DEFAULTS[k])
    record = {
        "what": f"thinkbench reference {args.kind.upper()} for chain problems, in "
        "Qwen2.5-Math-PRM's format (Qwen2ForProcessRewardModel, step tag <extra_0>, "
        "score = P(label 1))",
        "command": f"python -m bench.training.reward_models --kind {args.kind} --out {args.out} "
        f"--seed {settings['seed']} --steps {settings['steps']} {flags}".strip(),
        "settings": settings,
        "circuit": {
            "model": reward_circuit.SETTINGS,
            "watched": reward_circuit.WATCHED,
            "threshold": reward_circuit.THRESHOLD,
            "constant": reward_circuit.CONSTANT,
        },
        "data": {
            "problems": "bench/tasks/chain.py random_chain, 1..12 steps",
            "slip_rate": SLIP_RATE,
            "cut_rate": CUT_RATE,
            "wrong_answer_rate": WRONG_ANSWER_RATE,
            "labels": "bench/chain_steps.step_labels: good until the first wrong running "
            "value; the answer good when every step was and it is the true result"
            if args.kind == "prm"
            else "the answer is the chain's true result",
            "format": "<s><|user|>Q<|assistant|><think>STEP<extra_0>...</think>ANSWER<extra_0>"
            if args.kind == "prm"
            else "<s><|user|>Q<|assistant|><think>CHAIN</think>ANSWER<extra_0>",
        },
        "construction": "the reference reasoner (models/reasoner, frozen) with a slip "
        "detector set by hand (bench/training/reward_circuit.py: the reasoner's prediction one "
        "token back against the token written, the largest mismatch in the thinking so "
        "far); trained: the score head",
        "why_built": "gradient descent did not learn to compare a token with the "
        "prediction made one position earlier within the 20-minute budget (five "
        "variants, 400-1000 steps: the pick among a problem's samples stayed at or "
        "below a random sample's)",
        "step_tag": STEP_TAG,
        "step_tag_id": tokenizer.convert_tokens_to_ids(STEP_TAG),
        "train_seconds": seconds,
        # What is saved and served: the backbone and the head (not the LM head).
        "parameters": sum(v.numel() for v in model.state_dict().values()),
        "losses": losses,
        "held_out": check,
        "within_problem": within,
        "torch": torch.__version__,
    }
    save(model, tokenizer, Path(args.out), args.kind, record)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
