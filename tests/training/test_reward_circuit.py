"""The reference reward models' slip detector (bench/training/reward_circuit.py),
checked token by token on chains whose every slip is known, with a
transformers forward pass (no vLLM: tests/engines/test_verifier_engine.py runs the
shipped models through vLLM's pooling runner)."""

from __future__ import annotations

import random

import pytest

torch = pytest.importorskip("torch")

from bench.engines.models import PROJECT_ROOT  # noqa: E402
from bench.tasks.chain import Chain, random_chain  # noqa: E402
from bench.tasks.chain_steps import SLIP_OFFSETS, slipped, step_labels, written_steps  # noqa: E402
from bench.training import reward_circuit  # noqa: E402
from bench.training.reward_models import (  # noqa: E402
    STEP_TAG,
    RewardModel,
    build_tokenizer,
    prm_text,
    step_scores,
    within_problem,
)

REASONER = PROJECT_ROOT / "models" / "reasoner"


@pytest.fixture(scope="module")
def built():
    tokenizer = build_tokenizer()
    model = RewardModel(tokenizer, reward_circuit.SETTINGS)
    reward_circuit.build(model, tokenizer, REASONER, STEP_TAG)
    model.model.eval()
    return model, tokenizer


def _features(model, tokenizer, text, ids_out: list | None = None):
    """Per token of `text`: (token, MISMATCH after layer 5, ANY after layer 6);
    `ids_out` gets the token ids."""
    captured = {}

    def keep(name):
        def hook(module, inputs, output):
            captured[name] = output[0] if isinstance(output, tuple) else output

        return hook

    hooks = [
        model.model.layers[4].register_forward_hook(keep("five")),
        model.model.layers[5].register_forward_hook(keep("six")),
    ]
    ids = torch.tensor([tokenizer(text, add_special_tokens=False)["input_ids"]])
    try:
        with torch.no_grad():
            model.hidden(ids, torch.ones_like(ids))
    finally:
        for hook in hooks:
            hook.remove()
    if ids_out is not None:
        ids_out.append(ids)
    tokens = tokenizer.convert_ids_to_tokens(ids[0])
    mismatch = captured["five"][0, :, reward_circuit.MISMATCH].tolist()
    seen = captured["six"][0, :, reward_circuit.ANY].tolist()
    return list(zip(tokens, mismatch, seen, strict=True))


def _written(chain: Chain, slip_at: int | None, offset: int) -> tuple[list[str], int]:
    """The chain's steps, slipped at `slip_at` by `offset`, and the answer they reach."""
    return written_steps(chain, slip_at, offset), chain.answer + (offset if slip_at else 0)


def _thinking_span(features):
    start = next(i for i, (t, _, _) in enumerate(features) if t == "<think>")
    end = next(i for i, (t, _, _) in enumerate(features) if t == "</think>")
    return start, end


def test_the_reasoner_inside_computes_what_the_reasoner_does(built):
    """Dims 0..127 after layer 4 give the reasoner's own next-token logits:
    same argmax at every token of every thinking, values within 0.5 (the
    token code moves the norms a little; more in the question, where the
    reasoner is unsure and which the detector does not read)."""
    from transformers import LlamaForCausalLM

    model, tokenizer = built
    reasoner = LlamaForCausalLM.from_pretrained(str(REASONER)).eval()
    rng = random.Random(1)
    comma, tag = tokenizer.convert_tokens_to_ids(","), tokenizer.convert_tokens_to_ids(STEP_TAG)
    for _ in range(6):
        chain = random_chain(rng, rng.randint(1, 12))
        steps, answer = _written(chain, None, 0)
        text = prm_text(chain.question, steps, str(answer))
        ids = torch.tensor([tokenizer(text, add_special_tokens=False)["input_ids"]])
        with torch.no_grad():
            out = model.model(input_ids=ids, output_hidden_states=True)
            mine = reasoner.lm_head(reasoner.model.norm(out.hidden_states[4][..., :128]))
            theirs = reasoner(input_ids=ids.masked_fill(ids == tag, comma)).logits
        tokens = tokenizer.convert_ids_to_tokens(ids[0])
        thinking = slice(tokens.index("<think>"), tokens.index("</think>"))
        mine, theirs = mine[0, thinking], theirs[0, thinking]
        assert torch.equal(mine.argmax(-1), theirs.argmax(-1))
        assert (mine - theirs).abs().max().item() < 0.5


def test_mismatch_is_the_reasoners_confident_disagreement_with_the_written_token(built):
    """The detector's definition, token by token on slipped chains: inside
    the thinking, MISMATCH is the sum over the watched tokens other than the
    one written of how far the reasoner's logit one token back rose above the
    threshold (0 for a token not watched), within 0.7 (the logits inside are
    the reasoner's within 0.5; silu for max(0, x) within 0.07)."""
    from transformers import LlamaForCausalLM

    model, tokenizer = built
    reasoner = LlamaForCausalLM.from_pretrained(str(REASONER)).eval()
    watched = [tokenizer.convert_tokens_to_ids(t) for t in reward_circuit.WATCHED]
    comma, tag = tokenizer.convert_tokens_to_ids(","), tokenizer.convert_tokens_to_ids(STEP_TAG)
    rng = random.Random(3)
    checked = flagged = 0
    for _ in range(25):
        chain = random_chain(rng, rng.randint(1, 12))
        thinking, answer, _ = slipped(chain, rng, 0.2)
        labels = step_labels(chain.question, thinking, str(answer))
        text = prm_text(chain.question, labels.steps, str(answer))
        tokenized: list = []
        features = _features(model, tokenizer, text, tokenized)
        ids = tokenized[0]
        with torch.no_grad():
            logits = reasoner(input_ids=ids.masked_fill(ids == tag, comma)).logits[0]
        start, end = _thinking_span(features)
        for position in range(start + 1, end):
            written = int(ids[0, position])
            above = (logits[position - 1, watched] - reward_circuit.THRESHOLD).clamp(min=0)
            expected = (
                sum(float(x) for k, x in zip(watched, above, strict=True) if k != written)
                if written in watched
                else 0.0
            )
            assert features[position][1] == pytest.approx(expected, abs=0.7), (text, position)
            checked += 1
            flagged += expected > 1.0
    assert checked > 500 and flagged > 10


@pytest.mark.parametrize("offset", SLIP_OFFSETS)
def test_a_slip_is_flagged_at_its_step_and_stays_flagged(built, offset):
    """MISMATCH is high on a token of the slipped step and ANY stays high
    from there on (a step is bad from its first slip), whatever the offset."""
    model, tokenizer = built
    rng = random.Random(100 + offset)
    tried = 0
    while tried < 8:
        chain = random_chain(rng, rng.randint(2, 12))
        slip_at = rng.randint(1, len(chain.steps))
        if not all(0 <= v + offset <= 99 for v in chain.values[slip_at - 1 :]):
            continue
        tried += 1
        steps, answer = _written(chain, slip_at, offset)
        features = _features(model, tokenizer, prm_text(chain.question, steps, str(answer)))
        tags = [i for i, (t, _, _) in enumerate(features) if t == STEP_TAG]
        in_step = features[tags[slip_at - 1] + 1 : tags[slip_at]]  # tag 0 follows the start
        assert max(m for _, m, _ in in_step) > 1.0, (chain, slip_at, offset)
        assert min(a for _, _, a in features[tags[slip_at] :]) > 1.0


def test_right_chains_are_rarely_flagged_and_the_question_never_counts(built):
    """Right chains: nothing flagged in the thinking but where the reasoner
    itself loses track of the question (repeated steps such as "+8+8+8" send
    its copy to the wrong one), at most 3 chains in 20 (measured: 7 in 100);
    the question, which
    the reasoner cannot predict and where MISMATCH is often high (a near
    miss: it is read by the same heads), never raises ANY."""
    model, tokenizer = built
    rng = random.Random(7)
    flagged_questions = flagged_chains = 0
    for _ in range(40):
        chain = random_chain(rng, rng.randint(1, 12))
        steps, answer = _written(chain, None, 0)
        features = _features(model, tokenizer, prm_text(chain.question, steps, str(answer)))
        start, end = _thinking_span(features)
        flagged_questions += max(m for _, m, _ in features[:start]) > 2.0
        flagged_chains += max(m for _, m, _ in features[start:end]) > 1.0
        assert max(a for _, _, a in features[start : start + 2]) < 0.5
    assert flagged_questions > 0  # the near miss happens: the gate on <think> matters
    assert flagged_chains <= 6


def test_step_scores_follow_the_true_labels(built):
    """The built model's step scores (its untrained head: 3 - 3 * ANY, even at
    ANY = 1) against bench/chain_steps' labels on slipped chains: 95% of the
    steps on the right side of 0.5."""
    model, tokenizer = built
    rng = random.Random(11)
    agree = []
    for _ in range(40):
        chain = random_chain(rng, rng.randint(1, 12))
        thinking, answer, _ = slipped(chain, rng, 0.2)
        labels = step_labels(chain.question, thinking, str(answer))
        [scores] = step_scores(
            model, tokenizer, [prm_text(chain.question, labels.steps, str(answer))]
        )
        for score, good in zip(scores, [*labels.labels, labels.answer_label], strict=True):
            agree.append((score > 0.5) == good)
    assert len(agree) > 150 and sum(agree) / len(agree) >= 0.95


@pytest.mark.parametrize("kind", ["prm", "orm"])
def test_the_shipped_models_are_this_circuit_with_a_trained_head(built, kind):
    """Everything but the score head of models/prm and models/orm is what
    reward_circuit.build makes (so the recipe's command rebuilds them), and
    the shipped model picks right among one problem's samples far more often
    than a random sample does."""
    model, tokenizer = built
    shipped, shipped_tokenizer = RewardModel.load(PROJECT_ROOT / "models" / kind)
    mine = model.model.state_dict()
    for name, value in shipped.model.state_dict().items():
        assert torch.equal(value, mine[name]), name
    check = within_problem(shipped, shipped_tokenizer, kind, problems=20)
    assert check["best_by_answer_score"] >= check["random_sample"] + 0.3
