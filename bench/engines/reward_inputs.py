"""How each process reward model family reads a chain: the exact input text,
its token ids, and the positions where a step's score is read.

Every family gets the same thing: a question, the reasoning split into steps
(by the policy model's `step_delimiter`), and the answer, scored as the last
step. What differs is how the steps are joined and marked:

- reference and qwen2-prm (Qwen2.5-Math-PRM, Zhang et al. 2025): a chat with
  the PRM's system prompt, the question as the user turn, and the steps as
  the assistant turn, each followed by the step tag `<extra_0>`; a two-class
  head is read at each tag (vLLM's STEP pooling on the tag's id).
- math-shepherd (Wang et al. 2024): plain text, "QUESTION Step 1: ... ки\\n
  Step 2: ... ки"; the causal LM's logits of "+" and "-" at each "ки".
- rlhflow (Llama3.1-8B-PRM): each step is a user turn answered "+" by the
  assistant; the score is read at the token before each "+" (the assistant
  header's end), from the logits of "+" and "-".
- an ORM (kind orm) reads the whole attempt once: one tag after the answer.

The texts follow the model cards (config `source_note`); tests check them
character by character and the score positions token by token.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bench.config.schema import VerifierConfig


@dataclass(frozen=True)
class RewardInput:
    prompt_token_ids: list[int]
    positions: list[int]  # where a score is read: one per step (the answer last)
    text: str


def split_into_steps(thinking: str, delimiter: str) -> list[str]:
    """The reasoning's steps, stripped, empty ones dropped."""
    return [step.strip() for step in thinking.split(delimiter) if step.strip()]


def reward_text(
    verifier: VerifierConfig,
    tokenizer: Any,
    question: str,
    thinking: str,
    answer: str | None,
    delimiter: str,
) -> str:
    """The exact text the verifier reads for this attempt: its thinking (split
    into steps at `delimiter`) and its answer; `answer` None: a partial chain
    (a search's, still thinking), its steps only."""
    tag = verifier.step_tag or ""
    steps = split_into_steps(thinking, delimiter)
    if answer is None:
        return _partial_text(verifier, tokenizer, question, steps)
    answer = answer.strip()
    if verifier.kind == "orm":
        if verifier.family == "reference":  # the chain as the policy wrote it
            return f"<s><|user|>{question}<|assistant|><think>{thinking}</think>{answer}{tag}"
        return _chat(verifier, tokenizer, question, "\n\n".join([*steps, answer]) + tag)
    if verifier.family == "reference":  # the policy's layout, a tag at each delimiter
        body = "".join(f"{step}{tag}" for step in steps)
        return f"<s><|user|>{question}<|assistant|><think>{body}</think>{answer}{tag}"
    if verifier.family == "qwen2-prm":
        return _chat(verifier, tokenizer, question, "".join(f"{s}{tag}" for s in [*steps, answer]))
    if verifier.family == "math-shepherd":
        lines = [f"Step {i}: {step} {tag}" for i, step in enumerate([*steps, answer], start=1)]
        prefix = f"{verifier.system_prompt}\n" if verifier.system_prompt else ""
        return f"{prefix}{question} " + "\n".join(lines)
    if verifier.family == "rlhflow":
        good = verifier.label_tokens[0]
        turns: list[dict[str, str]] = []
        for i, step in enumerate([*steps, answer]):
            turns.append({"role": "user", "content": f"{question} {step}" if i == 0 else step})
            turns.append({"role": "assistant", "content": good})
        return tokenizer.apply_chat_template(turns, tokenize=False)
    raise ValueError(f"verifier family {verifier.family!r} has no input adapter")


def _partial_text(verifier: VerifierConfig, tokenizer: Any, question: str, steps: list[str]) -> str:
    """A chain still thinking: its steps, each tagged as in a whole attempt."""
    tag = verifier.step_tag or ""
    if verifier.kind != "prm":
        raise ValueError(
            f"verifier {verifier.name} is an {verifier.kind}: it scores whole attempts"
        )
    if verifier.family == "reference":
        body = "".join(f"{step}{tag}" for step in steps)
        return f"<s><|user|>{question}<|assistant|><think>{body}"
    if verifier.family == "qwen2-prm":
        return _chat(verifier, tokenizer, question, "".join(f"{s}{tag}" for s in steps))
    if verifier.family == "math-shepherd":
        lines = [f"Step {i}: {step} {tag}" for i, step in enumerate(steps, start=1)]
        prefix = f"{verifier.system_prompt}\n" if verifier.system_prompt else ""
        return f"{prefix}{question} " + "\n".join(lines)
    if verifier.family == "rlhflow":
        good = verifier.label_tokens[0]
        turns: list[dict[str, str]] = []
        for i, step in enumerate(steps):
            turns.append({"role": "user", "content": f"{question} {step}" if i == 0 else step})
            turns.append({"role": "assistant", "content": good})
        return tokenizer.apply_chat_template(turns, tokenize=False) if turns else question
    raise ValueError(f"verifier family {verifier.family!r} has no input adapter")


def _chat(verifier: VerifierConfig, tokenizer: Any, question: str, body: str) -> str:
    messages = [{"role": "user", "content": question}, {"role": "assistant", "content": body}]
    if verifier.system_prompt:
        messages.insert(0, {"role": "system", "content": verifier.system_prompt})
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=False)


def tag_id(verifier: VerifierConfig, tokenizer: Any) -> int | None:
    """The step tag's token id: the config's, else the tokenizer's (one token)."""
    if verifier.step_tag_id is not None:
        return verifier.step_tag_id
    if not verifier.step_tag:
        return None
    ids = tokenizer.encode(verifier.step_tag, add_special_tokens=False)
    return ids[-1] if ids else None


def label_ids(verifier: VerifierConfig, tokenizer: Any) -> list[int]:
    """[good, bad] token ids of a causal-LM PRM (empty for a classifier head)."""
    if verifier.label_token_ids:
        return list(verifier.label_token_ids)
    return [tokenizer.encode(t, add_special_tokens=False)[-1] for t in verifier.label_tokens]


def reward_input(
    verifier: VerifierConfig,
    tokenizer: Any,
    question: str,
    thinking: str,
    answer: str | None,
    delimiter: str,
    tag: int | None = None,
) -> RewardInput:
    """Text, token ids and score positions of one attempt (`tag`: the step
    tag's id where the caller has it, saving a lookup per input)."""
    text = reward_text(verifier, tokenizer, question, thinking, answer, delimiter)
    ids = tokenizer.encode(text, add_special_tokens=False)
    if verifier.family == "rlhflow":
        good = label_ids(verifier, tokenizer)[0]
        special = set(tokenizer.all_special_ids)
        # A step's score is the prediction of the assistant's "+" reply: a "+"
        # followed by the end of the turn (a "+" inside a step is not one).
        positions = [
            i - 1 for i in range(1, len(ids) - 1) if ids[i] == good and ids[i + 1] in special
        ]
    else:
        tag = tag if tag is not None else tag_id(verifier, tokenizer)
        positions = [i for i, token in enumerate(ids) if token == tag]
    return RewardInput(ids, positions, text)
