"""Judging one counterfactual retrain against the band, and what compare does when none can run."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from reprodiag.cli import main
from reprodiag.diagnosis.model import Check, Gap, NoiseBand
from reprodiag.confirm.verdicts import judge_counterfactual

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def _check() -> Check:
    return Check(
        order=7,
        key="pinned_snapshot",
        title="pinned-snapshot retrain: x",
        axis="data",
        cost="1 retrain",
        retrains=1,
        status="planned",
        expected="e",
        falsified_by="f",
        observed=None,
        verdict="not_run",
    )


def _band(mean: float, std: float, n: int = 5, k: float = 3.04) -> NoiseBand:
    return NoiseBand(
        metric="m",
        n=n,
        mean=mean,
        std=std,
        low=mean - k * std,
        high=mean + k * std,
        k=k,
        outcome="beyond noise",
        statistic=None,
        p_value=None,
        baseline_rank=None,
        min_detectable_effect=None,
    )


def _judge(value: float, band: NoiseBand, baseline: float, direction: str = "higher"):
    gap = Gap(
        "m",
        direction,
        baseline,
        band.mean,
        band.mean - baseline,
        (baseline - band.mean) * (1 if direction == "higher" else -1),
        "manifests",
    )
    result = SimpleNamespace(status="ok", metric_value=value, reason=None, manifest_path=None)
    return judge_counterfactual(_check(), result, band, gap, baseline)


@pytest.mark.parametrize(
    ("value", "band", "baseline", "direction", "verdict", "status"),
    [
        (86.0, _band(81.0, 0.3), 86.2, "higher", "confirms", "confirmed"),  # closes the gap
        (83.5, _band(81.0, 0.3), 86.2, "higher", "confirms", "confirmed"),  # explains part
        (80.9, _band(81.0, 0.3), 86.2, "higher", "rules_out", "ruled_out"),  # explains none
        # The baseline inside the band: a swap landing in the band recovers nothing.
        (80.7, _band(80.8, 0.3), 81.0, "higher", "rules_out", "ruled_out"),
        (78.0, _band(81.0, 0.3), 86.0, "higher", "rules_out", "ruled_out"),  # moves away
        # lower is better: a log loss that falls towards the baseline is recovered points
        (0.301, _band(0.35, 0.002), 0.30, "lower", "confirms", "confirmed"),
        (0.40, _band(0.35, 0.002), 0.30, "lower", "rules_out", "ruled_out"),
    ],
)
def test_a_swap_confirms_only_when_it_clearly_recovers_points(
    value, band, baseline, direction, verdict, status
) -> None:
    check, axis = _judge(value, band, baseline, direction)
    assert check.status == "done" and check.verdict == verdict
    assert axis is not None and axis.status == status
    if status == "confirmed":
        assert axis.attribution is not None and axis.attribution.low > 0


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
    assert code.value.code == 0, printed
    assert (out / "report.html").exists()
    assert "no retrain could run" in printed and "not pinned" in printed
