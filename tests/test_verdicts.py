"""Judging a counterfactual arm against the band (three outcomes), and what compare does when no
retrain can run."""

from __future__ import annotations

from pathlib import Path

import pytest

from reprodiag.cli import main
from reprodiag.noise.counterfactual import judge_swap

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


BAND = [81.0, 81.3, 80.7, 81.2, 80.8]  # the candidate band: mean 81.0, s = 0.25


@pytest.mark.parametrize(
    ("swapped", "baseline", "direction", "outcome"),
    [
        ([86.0, 86.3, 85.8, 86.1, 86.2], 86.2, "higher", "explains"),  # closes the gap
        ([83.5, 83.8, 83.2, 83.6, 83.4], 86.2, "higher", "explains"),  # explains part of it
        ([81.1, 80.9, 81.0, 81.2, 80.8], 86.2, "higher", "excluded"),  # under a quarter of it
        ([78.0, 78.2, 77.9, 78.1, 78.0], 86.0, "higher", "excluded"),  # moves away from it
        # One swap run against a gap the band cannot resolve: the interval holds both 0 and the
        # whole gap. That proves nothing: can't tell yet, never "ruled out" (issue 12, item 1).
        ([81.9], 81.8, "higher", "cant_tell"),
        # lower is better: a log loss that falls toward the baseline is recovered points
        ([0.301, 0.302, 0.300, 0.301, 0.303], 0.30, "lower", "explains"),
        ([0.40, 0.41, 0.40, 0.39, 0.40], 0.30, "lower", "excluded"),
    ],
)
def test_a_swap_explains_is_excluded_or_cannot_tell(
    swapped: list[float], baseline: float, direction: str, outcome: str
) -> None:
    reference = BAND if direction == "higher" else [0.35, 0.351, 0.349, 0.352, 0.348]
    mean = sum(reference) / len(reference)
    gap = (baseline - mean) if direction == "higher" else (mean - baseline)
    judged = judge_swap(reference, swapped, gap, direction, baseline=baseline, metric="m")
    assert judged.outcome == outcome, judged.words
    assert "ruled out" not in judged.words and "explains none" not in judged.words
    if outcome == "explains":
        assert judged.low > 0
    if outcome == "excluded":
        assert judged.high < 0.25 * judged.gap
    if outcome == "cant_tell":
        assert judged.low <= 0 <= judged.high and judged.more_per_arm


def test_compare_retrain_that_cannot_run_still_writes_the_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "r"
    with pytest.raises(SystemExit) as code:
        main(
            [
                "compare",
                str(FIXTURES / "a-monday-wednesday" / "baseline.json"),
                str(FIXTURES / "a-monday-wednesday" / "candidate.json"),
                "--retrain",
                "--out",
                str(out),
                "--no-band-store",
                "--no-snapshot-check",
            ]
        )
    printed = capsys.readouterr().out
    assert code.value.code == 7, printed  # EXIT_NO_RETRAIN: never 0 when nothing could run
    assert (out / "report.html").exists()
    assert "no retrain could run" in printed and "is not in the repository" in printed
    assert "Conclusion: no retrain ran: " in printed
