"""The reference reward models' slip detector: the reasoner's own arithmetic,
read by two layers whose weights are set by hand, not learned.

Why built: a step of a chain is wrong when its running value is not what the
previous one plus the step gives. The reference reasoner (models/reasoner)
predicts every right value, so "the written token is not what the reasoner
predicted one position earlier" finds every slip (its surprise separates
slipped steps perfectly). A PRM has to compare the token at position p with
the prediction made at p-1, and the reasoner's residual stream at p no longer
says which token stands at p (a linear read of it is right 4% of the time).
Gradient descent did not find that comparison within the make target's 20
minutes (five training variants, 400-1000 steps each: the pick among one
problem's samples stayed at or below chance; see the recipe's "why"). So the
comparison is wired in, and only the score head is trained (reward_models.py).

The model is a Qwen2ForProcessRewardModel, the family vLLM serves, 160 wide:
- dims 0..127 carry the reasoner, layers 1-4 copied unchanged (their weights
  read and write only those dims, and their RMSNorm weights are rescaled so
  the wider norm gives the same numbers);
- the embedding also writes a code of the token into dims CODE (which
  predictions writing it is consistent with: a digit or "=" itself; anything
  else every one, so it is never flagged);
- layer 5, head 0 looks exactly one token back (constant query and key
  biases tuned to RoPE's offset 1) and copies the reasoner's logits for the
  WATCHED tokens there into dims LOGIT; head 1 adds a large constant to dim
  CONST, so every later RMSNorm divides by the same number and the features
  keep their size; head 2 sets INTHINK to 1 from <think> on. Its MLP writes
  MISMATCH = sum_k max(0, logit_k - THRESHOLD) * (1 - code_k): how strongly the
  reasoner expected another token than the one written (0 when it expected
  this one, or was unsure);
- layer 6, head 0 attends to the largest MISMATCH inside the thinking so far
  (position-free: the lowest RoPE frequency) and copies it into ANY: a step
  tag sees every slip before it, so a step is bad from its first slip on;
- the final norm passes ANY and CONST to the score head, the one part trained.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

# The tokens whose prediction is checked: the values' digits and "=". Not
# "+" and "-": the reasoner learned merged steps ("+3-2=8"), so after a step's
# digit it half expects another sign, and checking those flagged a third of
# right chains (7% with these, where the reasoner loses track of a question
# with repeated steps).
WATCHED = [*"0123456789", "="]
REASONER_WIDTH, WIDTH, HEAD = 128, 160, 32
CODE = REASONER_WIDTH
LOGIT = CODE + len(WATCHED)
MISMATCH = LOGIT + len(WATCHED)
ANY, THINK, INTHINK = MISMATCH + 1, MISMATCH + 2, MISMATCH + 3
CONST = WIDTH - 1
# Small beside the reasoner's embedding (rms ~0.1 a dim): it barely moves its norms.
CODE_SIZE = 0.02
LOGIT_SCALE = 0.25
CONSTANT = 1e4  # dominates every later RMSNorm, so it divides by CONSTANT / sqrt(WIDTH)
THRESHOLD = 10.0  # logits above this are confident (the reasoner's right token: ~13)
SLOPE = 4.0  # silu(SLOPE * x) / SLOPE: max(0, x) within a few hundredths
PREVIOUS_SHARPNESS = 100.0  # offset 1 scores ~12 above offsets 0 and 2
ANY_SHARPNESS = 6.0  # attention logit per unit of mismatch: one slip outweighs ~100 tokens
SETTINGS = {
    "hidden": WIDTH,
    "layers": 6,
    "heads": WIDTH // HEAD,
    "intermediate": 384,
    "context": 256,
}


def _inv_freq() -> Any:
    import torch

    return 1.0 / 10000.0 ** (torch.arange(0, HEAD, 2).float() / HEAD)


def build(model: Any, tokenizer: Any, reasoner: Path, tag: str) -> None:
    """Fill `model` (a RewardModel of SETTINGS) with the reasoner at `reasoner`
    and the slip detector; `tag` is the step tag (written where the reasoner
    writes ",", so it reads the same to the reasoner)."""
    import torch
    from safetensors.torch import load_file

    state = load_file(str(Path(reasoner) / "model.safetensors"))
    net = model.model
    watched = [tokenizer.convert_tokens_to_ids(t) for t in WATCHED]
    rescale = math.sqrt(REASONER_WIDTH / WIDTH)  # RMS over 160 dims of a vector living in 128
    norm = CONSTANT / math.sqrt(WIDTH)  # what the later RMSNorms divide by
    with torch.no_grad():
        for parameter in [*net.parameters(), *model.score.parameters()]:
            parameter.zero_()
        _embed(net, tokenizer, state, tag, watched)
        for i in range(4):
            _copy_layer(net.layers[i], state, f"model.layers.{i}.", rescale)
        _look_back(net.layers[4], state, watched, rescale, norm)
        _any_mismatch(net.layers[5], norm)
        net.norm.weight[ANY] = norm
        net.norm.weight[CONST] = norm / CONSTANT
        first, last = model.score[0], model.score[2]
        first.weight[0, ANY] = 1.0
        first.weight[1, CONST] = 1.0
        last.weight[1, 0], last.weight[1, 1] = -3.0, 3.0  # label 1 (good): 3 - 3 * mismatch


def _embed(net: Any, tokenizer: Any, state: dict, tag: str, watched: list[int]) -> None:
    source = state["model.embed_tokens.weight"]
    embed = net.embed_tokens.weight
    embed[: source.shape[0], :REASONER_WIDTH] = source
    tag_id = tokenizer.convert_tokens_to_ids(tag)
    embed[tag_id, :REASONER_WIDTH] = source[tokenizer.convert_tokens_to_ids(",")]
    for token in range(embed.shape[0]):
        if token in watched:
            embed[token, CODE + watched.index(token)] = CODE_SIZE
        else:  # consistent with any prediction: never a mismatch
            embed[token, CODE : CODE + len(WATCHED)] = CODE_SIZE
    embed[tokenizer.convert_tokens_to_ids("<think>"), THINK] = CODE_SIZE


def _copy_layer(layer: Any, state: dict, prefix: str, rescale: float) -> None:
    width = REASONER_WIDTH
    for name in ("q_proj", "k_proj", "v_proj", "o_proj"):
        getattr(layer.self_attn, name).weight[:width, :width] = state[
            f"{prefix}self_attn.{name}.weight"
        ]
    for name in ("gate_proj", "up_proj"):
        getattr(layer.mlp, name).weight[:, :width] = state[f"{prefix}mlp.{name}.weight"]
    layer.mlp.down_proj.weight[:width] = state[f"{prefix}mlp.down_proj.weight"]
    for name in ("input_layernorm", "post_attention_layernorm"):
        getattr(layer, name).weight[:width] = state[f"{prefix}{name}.weight"] * rescale


def _look_back(layer: Any, state: dict, watched: list[int], rescale: float, norm: float) -> None:
    """Layer 5: the previous token's predictions, a constant, "in the thinking",
    and the mismatch of this token against the prediction."""
    import torch

    attention, half = layer.self_attn, HEAD // 2
    layer.input_layernorm.weight[:REASONER_WIDTH] = rescale  # the reasoner's own normalisation
    # Head 0: q.k = A * sum_j cos((offset - 1) * theta_j), largest at offset 1.
    inv = _inv_freq()
    attention.q_proj.bias[:half] = PREVIOUS_SHARPNESS * torch.cos(inv)
    attention.q_proj.bias[half:HEAD] = -PREVIOUS_SHARPNESS * torch.sin(inv)
    attention.k_proj.bias[:half] = 1.0
    lm_head = state.get("lm_head.weight", state["model.embed_tokens.weight"])  # tied
    reasoner_logits = lm_head[watched] * state["model.norm.weight"]
    attention.v_proj.weight[: len(WATCHED), :REASONER_WIDTH] = reasoner_logits
    for k in range(len(WATCHED)):
        attention.o_proj.weight[LOGIT + k, k] = LOGIT_SCALE
    # Head 1: a constant value, whatever it attends to.
    attention.v_proj.bias[HEAD] = 1.0
    attention.o_proj.weight[CONST, HEAD] = CONSTANT
    # Head 2: attends to <think> once there is one (lowest frequency: no
    # position preference), else spreads over tokens whose THINK is 0.
    low, head2 = half - 1, 2 * HEAD
    think = CODE_SIZE / 10.0  # THINK after the input norm (the residual's rms is ~10)
    layer.input_layernorm.weight[THINK] = 1.0
    attention.q_proj.bias[head2 + low] = 30.0
    attention.k_proj.weight[head2 + low, THINK] = 30.0 / think / math.sqrt(HEAD) * 0.5
    attention.v_proj.weight[head2, THINK] = 1.0 / think
    attention.o_proj.weight[INTHINK, head2] = 1.0
    # MLP: MISMATCH = sum_k silu(SLOPE (logit_k - THRESHOLD)) (1 - code_k) / SLOPE.
    post = layer.post_attention_layernorm.weight
    post[LOGIT : LOGIT + len(WATCHED)] = norm / LOGIT_SCALE
    post[CODE : CODE + len(WATCHED)] = norm / CODE_SIZE
    post[CONST] = norm / CONSTANT
    mlp = layer.mlp
    for k in range(len(WATCHED)):
        mlp.gate_proj.weight[k, LOGIT + k] = SLOPE
        mlp.gate_proj.weight[k, CONST] = -SLOPE * THRESHOLD
        mlp.up_proj.weight[k, CONST] = 1.0
        mlp.up_proj.weight[k, CODE + k] = -1.0
        mlp.down_proj.weight[MISMATCH, k] = 1.0 / SLOPE


def _any_mismatch(layer: Any, norm: float) -> None:
    """Layer 6: ANY = the largest MISMATCH inside the thinking up to here."""
    attention, low = layer.self_attn, HEAD // 2 - 1
    layer.input_layernorm.weight[MISMATCH] = norm
    layer.input_layernorm.weight[INTHINK] = norm
    layer.input_layernorm.weight[CONST] = norm / CONSTANT
    # q.k / sqrt(HEAD) = ANY_SHARPNESS * (MISMATCH + 10 * (INTHINK - 1)):
    # tokens before <think> (the question) are never looked at.
    scale = math.sqrt(ANY_SHARPNESS * math.sqrt(HEAD))
    attention.q_proj.bias[low] = scale
    attention.k_proj.weight[low, MISMATCH] = scale
    attention.k_proj.weight[low, INTHINK] = 10.0 * scale
    attention.k_proj.bias[low] = -10.0 * scale
    attention.v_proj.weight[0, MISMATCH] = 1.0
    attention.o_proj.weight[ANY, 0] = 1.0


def trainable(model: Any) -> list[Any]:
    """What training may change: the score head, which sees ANY and CONST
    only (the final norm passes nothing else), so it calibrates the detector
    and cannot learn a position prior that would blur one problem's samples.
    The rest (the reasoner and the detector) is frozen."""
    for parameter in model.model.parameters():
        parameter.requires_grad_(False)
    return list(model.score.parameters())
