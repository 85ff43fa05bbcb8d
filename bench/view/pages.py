"""The viewer's two kinds of page as data: the problem list of the overview
(one row per problem, its verdict at every budget, flips, cuts, grader
statuses) and one problem (its chains once, with where each budget cut
them, and per budget the answer, the verdict and the rule behind it).

Everything here is plain JSON for the browser, which shows every string the
model wrote as text (bench/view/static/app.js), never as markup.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import pandas as pd

from bench.view.data import SEARCHED_ANSWER_CHARS, RunView, _clean

RIGHT = 0.5  # a budget counts as right when at least half its samples are


def problem_list(run: RunView) -> list[dict[str, Any]]:
    """One row per problem: difficulty, gold, per budget the share right, the
    share cut and the grader's statuses; flips; first stable budget; tokens.
    Aggregated in a few vectorized passes: a 20,000-attempt run answers in
    well under a second (`bench perf --only view`)."""
    index = run.index()
    if index.empty:
        return []
    questions = run.questions()
    index = index.assign(
        _tokens=index["thinking_tokens"].fillna(0) + index["answer_tokens"].fillna(0),
        _status=_status(index),
        _right=index["correct"].astype("float"),
        _cut=index["hit_budget"].fillna(False).astype(float),
    )
    keys = ["problem_id", "budget"]
    per_budget = index.groupby(keys, sort=True).agg(
        right=("_right", "mean"), n=("_right", "size"), cut=("_cut", "mean")
    )
    flagged = index[index["_status"] != ""]
    statuses = flagged.groupby(keys)["_status"].agg(lambda s: sorted(set(s))).to_dict()
    budgets: dict[str, dict[str, Any]] = {}
    for (pid, budget), row in zip(
        per_budget.index, per_budget.itertuples(index=False), strict=True
    ):
        budgets.setdefault(pid, {})[str(int(budget))] = {
            "right": None if math.isnan(row.right) else float(row.right),
            "n": int(row.n),
            "cut": float(row.cut),
            "status": statuses.get((pid, budget), []),
        }
    distinct = index.dropna(subset=["answer"]).assign(
        _a=lambda f: f["answer"].astype(str).str.slice(0, SEARCHED_ANSWER_CHARS)
    )
    answers: dict[str, str] = {}
    for pid, answer in distinct.drop_duplicates(["problem_id", "_a"])[
        ["problem_id", "_a"]
    ].itertuples(index=False):
        answers[pid] = f"{answers[pid]} {answer}" if pid in answers else answer
    first = index.drop_duplicates("problem_id").set_index("problem_id")
    difficulty, gold = first["difficulty"].to_dict(), first["gold"].to_dict()
    tokens = index.groupby("problem_id")["_tokens"].mean().to_dict()
    rows = []
    for pid in first.index:
        mine = budgets[pid]
        verdicts = [mine[b]["right"] for b in sorted(mine, key=int)]
        rows.append(
            {
                "id": str(pid),
                "difficulty": _text(difficulty[pid]),
                "gold": _text(gold[pid]),
                "question": questions.get(str(pid), ""),
                "answers": answers.get(pid, ""),
                "budgets": mine,
                "flips": _flips(verdicts),
                "first_stable": _first_stable(mine),
                "tokens": float(tokens[pid]),
            }
        )
    return rows


def _text(value: Any) -> str:
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) else str(value)


def _status(index: pd.DataFrame) -> pd.Series:
    """What the grader could not judge: no answer extracted, or its own status
    (a sandbox timeout) where it is not a plain pass or fail."""
    answer = index["answer"] if "answer" in index else pd.Series(None, index=index.index)
    status = index["status"].astype("object") if "status" in index else answer.map(lambda _: None)
    graded = index["correct"].notna() if "correct" in index else answer.isna()
    no_answer = graded & (answer.isna() | (answer.astype(str).str.strip() == ""))
    # A plain pass or fail is a verdict; the sandbox's other outcomes are statuses.
    plain = {"passed", "failed"}
    own = status.map(lambda s: "" if pd.isna(s) or s in plain else str(s))
    return own.where(~no_answer, "no answer")


def _flips(verdicts: list[float | None]) -> dict[str, int]:
    """Changes of the majority verdict from one budget to the next."""
    seen = [v >= RIGHT for v in verdicts if v is not None]
    up = sum(1 for a, b in zip(seen, seen[1:], strict=False) if not a and b)
    down = sum(1 for a, b in zip(seen, seen[1:], strict=False) if a and not b)
    return {"up": up, "down": down}


def _first_stable(budgets: dict[str, dict[str, Any]]) -> int | None:
    """The smallest budget from which every larger one is right."""
    stable = None
    for budget in sorted(budgets, key=int, reverse=True):
        right = budgets[budget]["right"]
        if right is None or right < RIGHT:
            break
        stable = int(budget)
    return stable


def problem_page(run: RunView, problem_id: str, prices: Any = None) -> dict[str, Any] | None:
    """One problem: its question and gold, and per chain (sample) the text
    once, the budgets' cut points in it, and each budget's outcome."""
    return next(problem_pages(run, [problem_id], prices))[1]


def problem_pages(run: RunView, problem_ids: list[str], prices: Any = None, batch: int = 200):
    """(id, page or None) for many problems, read a batch at a time: memory
    holds one batch's text, and each part is read once per batch."""
    for start in range(0, len(problem_ids), batch):
        chunk = problem_ids[start : start + batch]
        found = run.attempts_of(chunk)
        records: dict[str, list[dict[str, Any]]] = {}
        if found:
            every = pd.concat(found.values(), ignore_index=True)
            usd = prices(every) if prices is not None else None
            if usd is not None:
                every = every.assign(usd=usd)
            # Plain dicts: pandas' per-row access costs more than the pages.
            for record in every.to_dict("records"):
                records.setdefault(str(record["problem_id"]), []).append(record)
        for pid in chunk:
            yield pid, (_page(run, pid, records[pid]) if pid in records else None)


def _page(run: RunView, problem_id: str, records: list[dict[str, Any]]) -> dict[str, Any]:
    chains: dict[tuple, list[dict[str, Any]]] = {}
    for record in records:
        key = (str(record["strategy"]), int(record["sample"]), int(record.get("repeat") or 0))
        chains.setdefault(key, []).append(record)
    first = records[0]
    return {
        "run": run.name,
        "id": problem_id,
        "question": run.questions().get(problem_id, ""),
        "gold": _text(first.get("gold")),
        "difficulty": _text(first.get("difficulty")),
        "task": _text(first.get("task")),
        "step_delimiter": run.manifest.config.step_delimiter,
        "chains": [_chain(chains[key], *key) for key in sorted(chains)],
    }


def _chain(chain: list[dict[str, Any]], strategy: str, sample: int, repeat: int) -> dict[str, Any]:
    """The longest thinking of one sample, and where each budget's was cut in it."""
    chain = sorted(chain, key=lambda r: int(r["budget"]))
    texts = [_text(r.get("thinking_text")) for r in chain]
    longest = max(texts, key=len)
    cuts = [
        {"budget": int(r["budget"]), "at": len(text)}
        for r, text in zip(chain, texts, strict=True)
        if bool(r.get("hit_budget")) and len(text) < len(longest) and longest.startswith(text)
    ]
    # Texts that do not nest (a search's paths, a wait extension) are each shown whole.
    nested = all(longest.startswith(t) for t in texts)
    return {
        "strategy": strategy,
        "sample": sample,
        "repeat": repeat,
        "thinking": longest if nested else None,
        "cuts": cuts,
        "budgets": [_outcome(r) for r in chain],
    }


def _outcome(row: Mapping[str, Any]) -> dict[str, Any]:
    scores = row.get("verifier_step_scores")
    out = {
        "budget": int(row["budget"]),
        "thinking": str(row.get("thinking_text") or ""),
        "answer_text": str(row.get("answer_text") or ""),
        "answer": None if pd.isna(row.get("answer")) else str(row.get("answer")),
        "correct": None if pd.isna(row.get("correct")) else bool(row.get("correct")),
        "reason": verdict_reason(row),
        "finish": _text(row.get("finish")),
        "cut": bool(row.get("hit_budget")),
        "thinking_tokens": int(row.get("thinking_tokens") or 0),
        "answer_tokens": int(row.get("answer_tokens") or 0),
        "prompt_tokens": int(row.get("prompt_tokens") or 0),
        "vote_class": None if pd.isna(row.get("vote_class")) else int(row.get("vote_class")),
        "verifier_score": None
        if pd.isna(row.get("verifier_score"))
        else float(row["verifier_score"]),
        "step_scores": [float(s) for s in scores] if scores is not None and len(scores) else None,
        "status": _text(row.get("status")),
        "detail": _text(row.get("detail")),
        "grader": _text(row.get("grader")),
        "usd": None if pd.isna(row.get("usd")) else float(row.get("usd")),
    }
    return _clean([out])[0]


def verdict_reason(row: Mapping[str, Any]) -> str:
    """The rule behind an attempt's verdict, in words."""
    correct, answer = row.get("correct"), row.get("answer")
    grader, status = _text(row.get("grader")), _text(row.get("status"))
    if correct is None or pd.isna(correct):
        return "not graded yet"
    cut = " (thinking cut at the budget, answer forced)" if bool(row.get("hit_budget")) else ""
    if status:  # graders that run the program keep its status
        verdict = "passes its tests" if correct else f"does not pass: {status}"
        return f"the program {verdict} in the sandbox{cut}"
    if answer is None or pd.isna(answer) or not str(answer).strip():
        return f"no answer could be extracted from the answer text{cut}"
    gold = _text(row.get("gold"))
    if correct and str(answer).strip() == gold.strip():
        return f"the extracted answer is the gold answer as written{cut}"
    if correct:
        return f"the extracted answer equals the gold answer by the {grader} grader's rules{cut}"
    return f"the extracted answer differs from the gold answer ({grader} grader){cut}"


def prices_for(run: RunView):
    """A function pricing a problem's attempts as the run's report does, or None."""
    manifest = run.manifest
    pricing = manifest.config.pricing
    if not pricing:
        return None

    def price(rows):
        from bench.analysis.cost import price_records
        from bench.report.page import RunInfo, run_costs

        try:
            priced = price_records(rows, pricing, run_costs([RunInfo(run.run_dir, manifest)]))
        except Exception:  # no price for this device: the page shows tokens only
            return None
        return priced["usd"].to_numpy()

    return price
