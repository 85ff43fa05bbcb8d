"""Run folders built by hand for the `bench view` tests (tests/view/test_view.py
and the browser test): every verdict, cut and flip in them is known."""

from __future__ import annotations

from pathlib import Path

from bench.run.store import RunStore, write_json_atomic

HOSTILE = '<script>window.__pwned = 1</script></textarea><img src=x onerror="window.__pwned=2">'


def attempt(pid, budget, thinking, answer_text, *, sample=0, cut=None, strategy="single", **more):
    row = {
        "key": f"{pid}/{strategy}/{budget}/{sample}",
        "model": "m", "task": "chain", "problem_id": pid, "difficulty": more.pop("difficulty", "1"),
        "strategy": strategy, "budget": budget, "sample": sample, "repeat": 0,
        "prompt_tokens": 5, "thinking_tokens": min(len(thinking), budget),
        "answer_tokens": len(answer_text), "hit_budget": bool(cut), "finish": "cut" if cut else "natural",
        "gold": more.pop("gold", "13"), "thinking_text": thinking, "answer_text": answer_text,
    }  # fmt: skip
    row.update(more)
    return row


def grade(row, answer, correct, status=None, grader="numeric", detail=None):
    return {
        "key": row["key"], "grader": grader, "answer": answer, "correct": correct,
        "status": status, "detail": detail,
    }  # fmt: skip


def write_run(folder: Path, rows, grades, parts=1, status="complete", model="m"):
    store = RunStore(folder)
    size = -(-len(rows) // parts)
    for start in range(0, len(rows), size):
        store.append_generations([dict(r, model=model) for r in rows[start : start + size]])
    if grades:
        store.append_grades(grades)
    config = {
        "model": {"name": model, "step_delimiter": ","},
        "suite": {"name": "chain", "tasks": ["chain"], "limit": 60},
        "strategy": {"name": rows[0]["strategy"]},
    }
    write_json_atomic({"config": config, "status": status}, folder / "manifest.json")
    return folder


CHAIN = "7,+3=10,-2=8,+5=13"


def _questions():
    from bench.tasks.loader import load_problems, load_spec

    return {p.problem_id: p.question for p in load_problems(load_spec("chain"))}


def _known_run(folder: Path, right_at_32: bool = True) -> Path:
    """Problem a: cut at 8 (wrong), right from 32 on. Problem b: right at 8,
    wrong at 32 (a flip down), no answer at 128. Problem c: hostile text."""
    rows, grades = [], []
    for budget, cut in ((8, True), (32, False), (128, False)):
        text = CHAIN[:budget] if cut else CHAIN
        row = attempt("chain-k04-0000", budget, text, "</think>9" if cut else "</think>13", cut=cut)
        rows.append(row)
        right = budget > 8 and (right_at_32 or budget == 128)
        grades.append(grade(row, "13" if right else "9", right))
    for budget, answer, correct in ((8, "13", True), (32, "12", False), (128, None, False)):
        row = attempt(
            "chain-k02-0001", budget, "4,+9=13", f"</think>{answer or '?'}", difficulty="2"
        )
        rows.append(row)
        grades.append(grade(row, answer, correct))
    for budget in (8, 32, 128):
        row = attempt("chain-k03-0002", budget, HOSTILE, HOSTILE, difficulty="3", gold="x")
        rows.append(row)
        grades.append(grade(row, HOSTILE, False))
    return write_run(folder, rows, grades, parts=3)
