"""Cost accounting against hand-computed values, tables that re-derive from
records, the report page (rendered by headless Chromium), `bench compare`,
and the messages for bad input."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers import bench

from bench.analysis.compare import paired_comparison
from bench.analysis.cost import (
    PricingError,
    cost_table,
    cost_to_target,
    pareto_frontier,
    price_records,
    require_api_prices,
)
from bench.report.tables import to_latex, to_markdown

PRICING = {
    "device_hours": {"cpu": {"usd_per_hour": 3.6}, "cuda": {"usd_per_hour": 36.0}},
    "api": {"big": {"input_per_m": 1.0, "output_per_m": 4.0, "reasoning_per_m": 8.0}},
}
RUNS = {
    "small": {"device": "cpu", "parameters": 1e9},
    "big": {"device": "cuda", "devices": 2, "parameters": 5e9},
}


def toy_records() -> pd.DataFrame:
    """Two models, two budgets, two problems: every number chosen to add up by hand."""
    rows = []
    for model in ("small", "big"):
        for budget in (10, 20):
            for problem in ("p1", "p2"):
                rows.append(
                    {
                        "model": model,
                        "task": "t",
                        "strategy": "single",
                        "budget": budget,
                        "problem_id": problem,
                        "sample": 0,
                        "difficulty": "1",
                        "prompt_tokens": 100,
                        "thinking_tokens": budget,
                        "answer_tokens": 5,
                        "seconds": 10.0 if model == "small" else 1.0,
                        "correct": problem == "p1" or (model == "big" and budget == 20),
                    }
                )
    return pd.DataFrame(rows)


def test_costs_match_hand_computed_values():
    priced = price_records(toy_records(), PRICING, RUNS)
    small = priced[priced["model"] == "small"].iloc[0]
    # 10 s on the CPU at $3.60/h: 10/3600 h -> $0.01
    assert small["device_hours"] == pytest.approx(10 / 3600)
    assert small["usd"] == pytest.approx(0.01)
    assert small["flops"] == pytest.approx(2 * 1e9 * (100 + 10 + 5))
    assert np.isnan(small["usd_api"])  # no API price for it
    big = priced[(priced["model"] == "big") & (priced["budget"] == 20)].iloc[0]
    # 1 s on 2 GPUs at $36/h: 2/3600 h -> $0.02
    assert big["device_hours"] == pytest.approx(2 / 3600)
    assert big["usd"] == pytest.approx(0.02)
    # API: 100 in at $1/M, 20 reasoning at $8/M, 5 out at $4/M
    assert big["usd_api"] == pytest.approx((100 * 1 + 20 * 8 + 5 * 4) / 1e6)

    table = cost_table(priced)
    row = table[(table["model"] == "big") & (table["budget"] == 20)].iloc[0]
    assert row["accuracy"] == 1.0 and row["attempts"] == 2
    assert row["usd"] == pytest.approx(0.04)
    assert row["usd_per_correct"] == pytest.approx(0.02)
    small_10 = table[(table["model"] == "small") & (table["budget"] == 10)].iloc[0]
    assert small_10["usd_per_correct"] == pytest.approx(0.02 / 1)


def test_every_cost_row_re_derives_from_its_records():
    priced = price_records(toy_records(), PRICING, RUNS)
    table = cost_table(priced)
    for _, row in table.iterrows():
        mine = priced[(priced["model"] == row["model"]) & (priced["budget"] == row["budget"])]
        assert row["usd"] == pytest.approx(mine["usd"].sum())
        assert row["engine_seconds"] == pytest.approx(mine["seconds"].sum())
        assert row["mean_thinking_tokens"] == pytest.approx(mine["thinking_tokens"].mean())
        assert row["accuracy"] == pytest.approx(mine["correct"].mean())


def test_pareto_front_and_cost_to_target():
    table = pd.DataFrame(
        {
            "model": ["m"] * 4,
            "task": ["t"] * 4,
            "strategy": ["s"] * 4,
            "budget": [1, 2, 3, 4],
            "usd": [1.0, 2.0, 3.0, 2.5],
            "accuracy": [0.2, 0.5, 0.6, 0.4],
        }
    )
    assert pareto_frontier(table).tolist() == [True, True, True, False]
    target = cost_to_target(table, targets=(0.5, 0.9)).set_index("target_accuracy")
    assert target.loc[0.5, "usd"] == 2.0 and target.loc[0.5, "budget"] == 2
    assert np.isnan(target.loc[0.9, "usd"])


def test_missing_prices_name_the_model_and_the_key():
    with pytest.raises(PricingError, match=r"pricing.device_hours.cuda.usd_per_hour"):
        price_records(toy_records(), {"device_hours": {"cpu": {"usd_per_hour": 1}}}, RUNS)
    with pytest.raises(PricingError, match=r"model small; set pricing.api.small.input_per_m"):
        require_api_prices(toy_records(), PRICING)


def test_paired_difference_on_common_problems():
    priced = price_records(toy_records(), PRICING, RUNS)
    paired = paired_comparison(priced, resamples=200)
    at_budget = paired[paired["matched"] == "budget"].set_index("budget")
    # Configurations pair in name order: A = big, B = small.
    assert set(paired["a"]) == {"big · single"} and set(paired["b"]) == {"small · single"}
    # small - big: equal at b=10 (both get p1 only); -0.5 at b=20 (big also gets p2)
    assert at_budget.loc[10, "difference"] == pytest.approx(0.0)
    assert at_budget.loc[20, "difference"] == pytest.approx(-0.5)
    assert at_budget.loc[20, "ci_low"] <= -0.5 <= at_budget.loc[20, "ci_high"]


def test_markdown_and_latex_tables_escape_and_round():
    table = pd.DataFrame({"model": ["a_b"], "usd": [0.000123456], "accuracy": [0.5]})
    assert "| a_b | 0.000123 | 0.5 |" in to_markdown(table)
    latex = to_latex(table, "cost & more")
    assert r"a\_b" in latex and r"cost \& more" in latex and r"\begin{tabular}{lrr}" in latex


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    for name, strategy in (("plain", "single"), ("extended", "wait")):
        result = bench(
            "sweep",
            "engine=fake",
            "suite.limit=9",
            f"strategy={strategy}",
            f"run_name={name}",
            f"results_dir={root}",
        )
        assert result.returncode == 0, result.stderr
    return root


@pytest.mark.slow
def test_report_page_renders_in_headless_chromium(two_runs, tmp_path):
    result = bench("report", str(two_runs / "plain"))
    assert result.returncode == 0, result.stderr
    page = two_runs / "plain" / "report" / "index.html"
    text = page.read_text()
    assert text.count("<img") == 6 and text.count("data:image/png;base64,") == 6
    for name in ("scaling", "cost", "pareto", "cost_to_target", "by_difficulty"):
        for suffix in ("csv", "md", "tex"):
            assert (page.parent / f"{name}.{suffix}").is_file()
    assert "bench sweep --from-manifest" in text and "PARTIAL" not in text
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("Debian's chromium is not installed (make setup installs it)")
    shot = tmp_path / "page.png"
    # Chromium's profile, caches and settings (dconf) go to the test's folder, not ~.
    home = tmp_path / "home"
    home.mkdir()
    places = {k: str(home) for k in ("HOME", "XDG_CACHE_HOME", "XDG_CONFIG_HOME")}
    subprocess.run(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--window-size=1200,3000",
            f"--screenshot={shot}",
            page.resolve().as_uri(),
        ],
        capture_output=True,
        timeout=120,
        check=True,
        env={**os.environ, **places},
    )
    import matplotlib.image

    pixels = matplotlib.image.imread(shot)
    assert pixels.shape[0] >= 3000 * 0.9 and pixels.shape[1] >= 1200 * 0.9
    # Not blank: many distinct colours (text, axes, lines), not one background.
    flat = (pixels[..., :3] * 255).astype(int).reshape(-1, 3)
    assert len(np.unique(flat[::37], axis=0)) > 50
    assert pixels[..., :3].std() > 0.05


@pytest.mark.slow
def test_compare_merges_runs_into_one_report(two_runs, tmp_path):
    out = tmp_path / "cmp"
    result = bench(
        "compare", str(two_runs / "plain"), str(two_runs / "extended"), "--out", str(out)
    )
    assert result.returncode == 0, result.stderr
    paired = pd.read_csv(out / "paired.csv")
    # At equal budget, and at each side's cost points where the other's curve reaches.
    assert {"budget"} <= set(paired["matched"]) <= {"budget", "cost", "cost_b"}
    at_b = paired[paired["matched"] == "cost_b"]
    assert at_b["cost_b"].notna().all() and at_b["cost_a"].isna().all()
    cost = pd.read_csv(out / "cost.csv")
    assert set(cost["strategy"]) == {"single", "wait"}
    # The chains of both runs, exported beside the page and linked from it;
    # the last line names the command that serves them.
    assert (out / "view" / "index.html").is_file()
    assert len(list((out / "view" / "data" / "p" / "1").glob("*.js"))) == 9
    assert "href='view/index.html'" in (out / "index.html").read_text()
    last = result.stdout.strip().splitlines()[-1]
    assert last.startswith("every chain, answer and verdict: bench view ")
    assert str(two_runs / "plain") in last and str(out / "view" / "index.html") in last


def test_partial_runs_are_reported_as_partial(two_runs):
    manifest_path = two_runs / "extended" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["status"] = "running"
    manifest_path.write_text(json.dumps(manifest))
    result = bench("report", str(two_runs / "extended"))
    assert result.returncode == 0, result.stderr
    assert "PARTIAL" in (two_runs / "extended" / "report" / "index.html").read_text()


def test_bad_report_input_is_one_line(tmp_path, two_runs):
    empty = tmp_path / "empty"
    (empty / "generations").mkdir(parents=True)
    result = bench("report", str(empty))
    assert result.returncode == 2 and "no stored generations" in result.stderr
    result = bench("report", str(two_runs / "plain"), "--pricing", "nope")
    assert result.returncode == 2 and "pricing 'nope' is not known" in result.stderr
    result = bench("compare", str(two_runs / "plain"))
    assert result.returncode == 2 and "two or more" in result.stderr
    assert Path(two_runs / "plain" / "manifest.json").is_file()  # nothing lost
