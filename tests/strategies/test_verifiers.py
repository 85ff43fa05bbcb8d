"""Process and outcome reward models without a model: the truth about a
chain's steps, what each PRM family reads (exact text, token ids, score
positions), the config's one-line errors, and the verification phase of a
sweep on the fake engines (scores stored, resumed, counted in cost)."""

from __future__ import annotations

import json
import random

import pandas as pd
import pytest

from bench.config.schema import ConfigError, VerifierConfig, load_verifier, verifier_names
from bench.engines.reward_inputs import reward_input, reward_text
from bench.tasks.chain import random_chain
from bench.tasks.chain_steps import parse_question, slipped, split_steps, step_labels

# ---- the truth: which steps of a written chain hold ----


@pytest.mark.parametrize(
    "thinking, answer, labels, answer_label, complete",
    [
        ("7,+3=10,-2=8", "8", [True, True, True], True, True),
        ("7,+3=10,-2=8", "9", [True, True, True], False, True),  # a wrong answer only
        ("7,+3=11,-2=9", "9", [True, False, False], False, True),  # bad from the first slip on
        ("7,+3=11,-2=8", "8", [True, False, False], False, True),  # right again: still bad
        ("7,+3=10,-2=7", "7", [True, True, False], False, True),
        ("8,+3=11,-2=9", "9", [False, False, False], False, True),  # a wrong start
        ("7,+3=10,", "8", [True, True], True, False),  # cut, a right answer all the same
        ("7,+3=10,", "10", [True, True], False, False),  # cut, its last value answered
        ("7,+3=10,-2=", "8", [True, True, True], True, False),  # cut mid-step, right so far
        ("7,+3=10,-2=9", "9", [True, True, False], False, True),
        ("7,+3=10,-5=", "5", [True, True, False], False, False),  # a partial wrong step
        ("7,+3-2=8", "8", [True, True], True, True),  # two steps written as one
        ("7,-2+3=8", "8", [True, False], False, True),  # in the wrong order
        ("", "8", [], True, False),  # no thinking (budget 0), a right answer
        ("", "9", [], False, False),
        ("7,+3=10,-2=8,+1=9", "9", [True, True, True, False], False, True),  # a step too many
    ],
)
def test_step_labels_good_until_the_first_mistake(thinking, answer, labels, answer_label, complete):
    got = step_labels("7+3-2=?", thinking, answer)
    assert got.labels == labels
    assert got.answer_label == answer_label
    assert got.complete == complete


@pytest.mark.parametrize("question", ["", "7+3", "seven plus three=?", "7+33=?", "x+3=?"])
def test_a_question_that_is_no_chain_has_no_labels(question):
    assert parse_question(question) is None
    assert step_labels(question, "7,+3=10", "10") is None


def test_slipped_chains_label_themselves_as_step_labels_reads_them():
    rng = random.Random(3)
    slips = steps = 0
    for _ in range(3000):
        chain = random_chain(rng, rng.randint(1, 12))
        thinking, answer, labels = slipped(chain, rng, 0.1)
        read = step_labels(chain.question, thinking, str(answer))
        assert read.labels == labels and read.complete
        assert read.answer_label == (answer == chain.answer and all(labels))
        good = labels[1:]
        steps += next((i + 1 for i, ok in enumerate(good) if not ok), len(good))
        slips += not all(good)
    # The per-step hazard comes back near the rate asked for (values near the
    # edges of 0..99 cannot always slip, so a little under it).
    assert 0.08 <= slips / steps <= 0.105


def test_no_slips_at_rate_zero():
    rng = random.Random(1)
    for _ in range(200):
        chain = random_chain(rng, 8)
        thinking, answer, labels = slipped(chain, rng, 0.0)
        assert thinking == chain.thinking() and answer == chain.answer and all(labels)


def test_split_steps_drops_empty_pieces():
    assert split_steps("7,+3=10,") == ["7", "+3=10"]
    assert split_steps(",,") == []


# ---- what each family reads ----


class ChatTokenizer:
    """A stand-in tokenizer: whitespace-free character tokens, the published
    ids of a family's special tokens, and its chat template written out."""

    def __init__(self, template: str, special: dict[str, int]) -> None:
        self.template = template
        self.special = special
        self.all_special_ids = [i for t, i in special.items() if t.startswith("<|")]

    def apply_chat_template(self, messages, tokenize=False, add_generation_prompt=False):
        if self.template == "chatml":  # Qwen2.5's
            return "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in messages)
        text = "<|begin_of_text|>"  # Llama 3's
        for m in messages:
            text += f"<|start_header_id|>{m['role']}<|end_header_id|>\n\n{m['content']}<|eot_id|>"
        return text

    def encode(self, text: str, add_special_tokens: bool = False) -> list[int]:
        ids, i = [], 0
        names = sorted(self.special, key=len, reverse=True)
        while i < len(text):
            name = next((n for n in names if text.startswith(n, i)), None)
            if name:
                ids.append(self.special[name])
                i += len(name)
            else:
                ids.append(1000 + ord(text[i]))
                i += 1
        return ids


QWEN = ChatTokenizer("chatml", {"<extra_0>": 151651, "<|im_start|>": 151644, "<|im_end|>": 151645})
LLAMA = ChatTokenizer(
    "llama3",
    {"+": 10, "-": 482, "<|begin_of_text|>": 128000, "<|eot_id|>": 128009,
     "<|start_header_id|>": 128006, "<|end_header_id|>": 128007},
)  # fmt: skip
SHEPHERD = ChatTokenizer("none", {"ки": 12902, "+": 648, "-": 387})


def test_every_shipped_verifier_config_loads_on_its_schema():
    names = verifier_names()
    for expected in (
        "reference-prm",
        "reference-orm",
        "qwen2.5-math-prm-7b",
        "math-shepherd-mistral-7b-prm",
        "rlhflow-llama3.1-8b-prm",
    ):
        assert expected in names
    for name in names:
        verifier = load_verifier(name)
        assert isinstance(verifier, VerifierConfig) and verifier.name == name
        assert verifier.parameters > 0 and verifier.source_note


@pytest.mark.parametrize("kind", ["prm", "orm"])
def test_a_reference_verifiers_parameters_are_its_shipped_models(kind):
    """FLOPs and device-hours read `parameters` from the config; a rebuilt
    model that changed size must not leave the old count behind."""
    import json

    from bench.engines.models import PROJECT_ROOT

    recipe = json.loads((PROJECT_ROOT / "models" / kind / "recipe.json").read_text())
    config = json.loads((PROJECT_ROOT / "models" / kind / "config.json").read_text())
    assert load_verifier(f"reference-{kind}").parameters == recipe["parameters"]
    assert config["hidden_size"] == recipe["circuit"]["model"]["hidden"]


def test_qwen2_math_prm_reads_its_chat_with_a_tag_after_every_step():
    verifier = load_verifier("qwen2.5-math-prm-7b")
    thinking = "First, 2+3=5.\n\nThen 5*2=10."
    made = reward_input(verifier, QWEN, "What is (2+3)*2?", thinking, " \\boxed{10}", "\n\n")
    assert made.text == (
        "<|im_start|>system\nPlease reason step by step, and put your final answer within "
        "\\boxed{}.<|im_end|>\n<|im_start|>user\nWhat is (2+3)*2?<|im_end|>\n"
        "<|im_start|>assistant\nFirst, 2+3=5.<extra_0>Then 5*2=10.<extra_0>\\boxed{10}"
        "<extra_0><|im_end|>\n"
    )
    assert [made.prompt_token_ids[i] for i in made.positions] == [151651] * 3
    assert len(made.positions) == 3  # two steps and the answer


def test_math_shepherd_reads_numbered_steps_each_ending_in_its_tag():
    verifier = load_verifier("math-shepherd-mistral-7b-prm")
    made = reward_input(
        verifier, SHEPHERD, "What is 2+3?", "2+3=5\n\nSo 5.", "The answer is: 5", "\n\n"
    )
    assert made.text == (
        "What is 2+3? Step 1: 2+3=5 ки\nStep 2: So 5. ки\nStep 3: The answer is: 5 ки"
    )
    assert [made.prompt_token_ids[i] for i in made.positions] == [12902] * 3
    assert verifier.label_token_ids == [648, 387] and verifier.good_label == 0


def test_rlhflow_reads_steps_as_user_turns_and_scores_before_each_plus():
    verifier = load_verifier("rlhflow-llama3.1-8b-prm")
    made = reward_input(verifier, LLAMA, "What is 2+3?", "2+3=5\n\n5-1=4", "4", "\n\n")
    assert made.text == (
        "<|begin_of_text|>"
        "<|start_header_id|>user<|end_header_id|>\n\nWhat is 2+3? 2+3=5<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\n+<|eot_id|>"
        "<|start_header_id|>user<|end_header_id|>\n\n5-1=4<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\n+<|eot_id|>"
        "<|start_header_id|>user<|end_header_id|>\n\n4<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\n+<|eot_id|>"
    )
    ids = made.prompt_token_ids
    # One position per step, each just before an assistant's "+" (the "+" inside
    # "2+3" and the "-" in "5-1" are not replies).
    assert len(made.positions) == 3
    assert all(ids[p + 1] == 10 and ids[p + 2] == 128009 for p in made.positions)


def test_the_reference_prm_reads_the_chain_steps_and_the_answer():
    from bench.training.reward_models import STEP_TAG, build_tokenizer, prm_text

    tokenizer = build_tokenizer()
    verifier = load_verifier("reference-prm")
    made = reward_input(verifier, tokenizer, "7+3-2=?", "7,+3=10,-2=8", "8", ",")
    assert (
        made.text
        == "<s><|user|>7+3-2=?<|assistant|><think>7<extra_0>+3=10<extra_0>-2=8<extra_0></think>"
        "8<extra_0>"
    )
    assert made.text == prm_text("7+3-2=?", ["7", "+3=10", "-2=8"], "8")  # as trained
    tag = tokenizer.convert_tokens_to_ids(STEP_TAG)
    assert [made.prompt_token_ids[i] for i in made.positions] == [tag] * 4
    orm = load_verifier("reference-orm")
    text = reward_text(orm, tokenizer, "7+3-2=?", "7,+3=10,-2=8", "8", ",")
    assert text == "<s><|user|>7+3-2=?<|assistant|><think>7,+3=10,-2=8</think>8<extra_0>"


# ---- one-line errors ----


def test_bad_verifier_settings_are_one_line(make_cfg, tmp_path, monkeypatch):
    from bench.config.checks import validate
    from bench.sweep.compose import validate as validate_all

    cases = [
        (("strategy.verifier=no-such-prm",), "strategy.verifier='no-such-prm' is not known"),
        (("strategy.verifier=../etc/passwd",), "is not known"),
        (("strategy.step_aggregate=mean",), "strategy.step_aggregate='mean'"),
        (("model=smollm2-135m",), "has no step delimiter; set model.step_delimiter"),
    ]
    for extra, fragment in cases:
        cfg = make_cfg(
            "engine=fake", "model=reasoner", "strategy=bon", "strategy.verifier=reference-prm",
            "budget.tokens=[16,64]", *extra,
        )  # fmt: skip
        validate(cfg)
        with pytest.raises(ConfigError) as raised:
            validate_all(cfg)
        assert fragment in str(raised.value) and "\n" not in str(raised.value)


def test_a_prm_config_without_a_step_tag_is_refused(make_cfg, tmp_path, monkeypatch):
    from bench.config import schema as config_mod
    from bench.sweep.compose import validate as validate_all

    folder = tmp_path / "configs"
    (folder / "verifier").mkdir(parents=True)
    (folder / "verifier" / "tagless.yaml").write_text(
        "name: tagless\nkind: prm\nfamily: qwen2-prm\nsource: x\n"
    )
    (folder / "verifier" / "shepherd-nolabels.yaml").write_text(
        "name: shepherd-nolabels\nkind: prm\nfamily: math-shepherd\nsource: x\nstep_tag: ки\n"
    )
    (folder / "verifier" / "typo.yaml").write_text(
        "name: typo\nkind: prm\nfamily: qwen2-prm\nsource: x\nstep_tagg: x\n"
    )
    cfg = make_cfg("engine=fake", "model=reasoner", "strategy=bon", "budget.tokens=[16,64]")
    monkeypatch.setattr(config_mod, "CONFIG_DIR", folder)
    for name, fragment in (
        ("tagless", "has no step tag"),
        ("shepherd-nolabels", r"needs label_tokens: \[good, bad\]"),
        ("typo", "typo.yaml: "),
    ):
        cfg.strategy.verifier = name
        with pytest.raises(ConfigError, match=fragment):
            validate_all(cfg)


def test_a_reward_model_needs_a_vllm_engine(make_cfg):
    from bench.engines.reward import make_reward_engine

    cfg = make_cfg("engine=openai", "engine.base_url=http://127.0.0.1:9")
    with pytest.raises(ConfigError, match="runs on vLLM's pooling runner"):
        make_reward_engine(load_verifier("reference-prm"), cfg.engine)


# ---- the verification phase on the fake engines ----


def test_a_sweep_scores_every_attempt_once_and_resumes(make_cfg):
    from bench.run.store import RunStore
    from bench.sweep.runner import Sweep

    args = (
        "engine=fake", "model=reasoner", "suite=chain", "suite.limit=12", "strategy=bon",
        "strategy.verifier=reference-prm", "strategy.n=4", "budget.tokens=[16,64]",
        "run_name=v",
    )  # fmt: skip
    run_dir = Sweep(make_cfg(*args)).run()
    records = pd.read_parquet(run_dir / "records.parquet")
    assert len(records) == 12 * 4 * 2
    assert records["verifier"].eq("reference-prm").all()
    assert records["verifier_score"].notna().all() and (records["verifier_tokens"] > 0).all()
    steps = records["verifier_step_scores"].map(len)
    assert (steps >= 1).all()
    # last: the score is the answer step's
    last = records["verifier_step_scores"].map(lambda s: s[-1])
    assert (last == records["verifier_score"]).all()
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["verification"]["scored"] == len(records)
    assert manifest["config"]["verifier"]["step_delimiter"] == ","
    scaling = pd.read_csv(run_dir / "scaling.csv")
    assert {"bon", "wbon", "maj", "pass"} <= set(scaling["method"])
    # A second run generates and scores nothing.
    again = Sweep(make_cfg(*args))
    again.run()
    assert again.generated == 0 and again.verification["scored"] == 0
    assert len(RunStore(run_dir, create=False).verifications()) == len(records)


def test_the_aggregate_decides_the_score_and_the_identity(make_cfg):
    from bench.sweep.runner import Sweep

    base = (
        "engine=fake", "model=reasoner", "suite=chain", "suite.limit=6", "strategy=bon",
        "strategy.verifier=reference-prm", "strategy.n=2", "budget.tokens=[64]",
    )  # fmt: skip
    runs = {
        how: Sweep(make_cfg(*base, f"strategy.step_aggregate={how}"))
        for how in ("last", "min", "prod")
    }
    assert len({s.identity for s in runs.values()}) == 3
    for how, sweep in runs.items():
        records = pd.read_parquet(sweep.run() / "records.parquet")
        import math

        expected = records["verifier_step_scores"].map(
            {"last": lambda s: s[-1], "min": min, "prod": lambda s: math.prod(s)}[how]
        )
        assert (records["verifier_score"] - expected).abs().max() < 1e-9


def test_flops_count_the_verifier_at_its_own_parameters():
    from bench.analysis.cost import price_records

    records = pd.DataFrame(
        {
            "model": ["m"], "task": ["t"], "strategy": ["bon"], "budget": [16],
            "prompt_tokens": [10], "thinking_tokens": [16], "answer_tokens": [4],
            "discarded_tokens": [0], "verifier_tokens": [40], "seconds": [1.0],
            "verifier_seconds": [0.5], "correct": [True],
        }
    )  # fmt: skip
    pricing = {"device_hours": {"cpu": {"usd_per_hour": 3.6, "source": "x", "date": "x"}}}
    runs = {"m": {"device": "cpu", "parameters": 1e6, "verifier_parameters": 1e3}}
    priced = price_records(records, pricing, runs)
    assert priced["flops"].iloc[0] == pytest.approx(2 * 1e6 * 30 + 2 * 1e3 * 40)
    assert priced["usd"].iloc[0] == pytest.approx(1.5 / 3600 * 3.6)


@pytest.mark.slow
def test_the_reward_model_trainer_saves_what_it_trained(tmp_path):
    """A few steps of the recipe: the saved model (Qwen2ForProcessRewardModel
    layout, the reasoner's weights underneath) scores as the trained one did."""
    from bench.training.reward_models import (
        DEFAULTS,
        RewardModel,
        held_out,
        prm_text,
        save,
        step_scores,
        train,
    )

    settings = DEFAULTS | {"steps": 3, "batch": 8}
    model, tokenizer, losses = train("prm", settings, log_every=1)
    assert len(losses) == 3
    save(model, tokenizer, tmp_path / "prm", "prm", {"what": "test"})
    config = json.loads((tmp_path / "prm" / "config.json").read_text())
    assert config["architectures"] == ["Qwen2ForProcessRewardModel"] and config["num_labels"] == 2
    loaded, loaded_tokenizer = RewardModel.load(tmp_path / "prm")
    text = [prm_text("7+3-2=?", ["7", "+3=10", "-2=8"], "8")]
    assert step_scores(loaded, loaded_tokenizer, text)[0] == pytest.approx(
        step_scores(model, tokenizer, text)[0], abs=1e-6
    )
    check = held_out(model, tokenizer, "prm", count=20)
    assert 0 <= check["auroc"] <= 1 and check["scored"] > 20


@pytest.mark.parametrize(
    "text, cues, expected",
    [
        ("</think>76", ["</think>"], "76"),
        ("  </think> 76 ", ["</think>"], "76"),
        ("76", ["</think>"], "76"),
        ("Final answer: 7", ["</think>", "Final answer:"], "7"),
        ("</think>Final answer: 7", ["</think>", "</think>Final answer:"], "7"),  # longest first
        ("7</think>", ["</think>"], "7</think>"),  # only in front
        ("", ["</think>"], ""),
        (None, ["</think>"], ""),
        ("</think>", ["", "</think>"], ""),
    ],
)
def test_the_verifier_reads_the_answer_without_the_end_of_thinking(text, cues, expected):
    from bench.sweep.verification import answer_only

    assert answer_only(text, cues) == expected
