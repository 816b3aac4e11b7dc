"""The primary metric and metric resolutions: recorded at capture (API and shell), stored in the
manifest, and the diagnosis's default metric chosen from them, with the rule in the warning."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

import reprodiag
from reprodiag.diagnosis.gap import (
    default_metric,
    default_metric_of,
    measure_gap,
    metric_resolution,
)
from reprodiag.errors import InputError
from reprodiag.manifest import canonical_json, load_manifest
from reprodiag.manifest.model import Manifest, Metric
from tests.helpers.manifests import example_manifest

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def _capture(path: Path, log: dict[str, float], **kwargs: object) -> Manifest:
    primary = kwargs.pop("primary", None)
    resolution = kwargs.pop("resolution", None)
    with reprodiag.capture(path, code_root=path.parent, **kwargs) as run:  # type: ignore[arg-type]
        run.log_metrics(log, {"log_loss": "lower"}, primary=primary, resolution=resolution)
    return load_manifest(path)


def _runs(
    b_primary: str | None, c_primary: str | None, **metrics: tuple[float, float]
) -> tuple[Manifest, Manifest]:
    def side(i: int, primary: str | None, run_id: str) -> Manifest:
        m = example_manifest(run_id=run_id)
        values = {name: Metric(pair[i]) for name, pair in metrics.items()}
        return replace(m, results=replace(m.results, metrics=values, primary_metric=primary))

    return side(0, b_primary, "a"), side(1, c_primary, "b")


def _gap(base: Manifest, cand: Manifest) -> tuple[str, list[str]]:
    gap, warnings = measure_gap(
        base, cand, metric=None, gap=None, baseline_file="mon.json", candidate_file="wed.json"
    )
    return gap.metric, warnings


# --- capture -----------------------------------------------------------------------------------


def test_the_primary_metric_and_resolutions_are_recorded_at_capture(tmp_path: Path) -> None:
    manifest = _capture(
        tmp_path / "m.json",
        {"accuracy": 91.0, "auc": 80.0, "log_loss": 0.3},
        primary="auc",
        resolution={"accuracy": 100 / 2000},
    )
    assert manifest.results.primary_metric == "auc"
    assert metric_resolution(manifest, "accuracy") == pytest.approx(0.05)
    assert metric_resolution(manifest, "auc") is None  # not given
    assert metric_resolution(manifest, "f1") is None  # not held
    doc = json.loads((tmp_path / "m.json").read_text())
    assert doc["results"]["primary_metric"] == "auc"
    assert doc["results"]["metrics"]["accuracy"]["resolution"] == 0.05


def test_one_metric_is_the_primary_and_several_without_one_have_none(tmp_path: Path) -> None:
    assert _capture(tmp_path / "one.json", {"auc": 80.0}).results.primary_metric == "auc"
    several = _capture(tmp_path / "two.json", {"auc": 80.0, "accuracy": 90.0})
    assert several.results.primary_metric is None
    named = _capture(tmp_path / "named.json", {"auc": 80.0, "f1": 0.5}, primary_metric="f1")
    assert named.results.primary_metric == "f1"


def test_a_primary_or_resolution_for_an_unlogged_metric_is_refused(tmp_path: Path) -> None:
    with reprodiag.capture(tmp_path / "m.json", code_root=tmp_path) as run:
        with pytest.raises(InputError, match="primary metric 'auc' is not among"):
            run.log_metrics({"accuracy": 90.0}, primary="auc")
        with pytest.raises(InputError, match="resolution given for 'auc'"):
            run.log_metrics({"accuracy": 90.0}, resolution={"auc": 0.1})
        for bad in (0, -0.5, float("nan"), "fine"):
            with pytest.raises(InputError, match="resolution"):
                run.log_metric("accuracy", 90.0, resolution=bad)  # type: ignore[arg-type]


# --- old manifests -----------------------------------------------------------------------------


@pytest.mark.parametrize("side", ["baseline", "candidate"])
def test_an_old_manifest_loads_without_the_new_fields_and_round_trips(side: str) -> None:
    path = FIXTURES / "a-monday-wednesday" / f"{side}.json"
    manifest = load_manifest(path)
    assert manifest.results.primary_metric is None and manifest.results.outputs is None
    assert metric_resolution(manifest, "auc") is None
    assert canonical_json(manifest) == path.read_text()  # nothing added when nothing is set


def test_old_manifests_keep_todays_default_metric_without_a_warning() -> None:
    base = load_manifest(FIXTURES / "a-monday-wednesday" / "baseline.json")
    cand = load_manifest(FIXTURES / "a-monday-wednesday" / "candidate.json")
    assert _gap(base, cand) == ("auc", [])


# --- the default metric ------------------------------------------------------------------------


def test_the_baseline_primary_wins_over_the_alphabetical_rule_and_says_so() -> None:
    base, cand = _runs("auc", None, accuracy=(90.0, 89.0), auc=(80.0, 76.0))
    metric, warnings = _gap(base, cand)
    assert metric == "auc"  # accuracy sorts first: today's rule would have picked it
    assert warnings == [
        "no metric named: the diagnosis compares auc, the baseline's recorded primary metric; "
        "pass --metric NAME to compare another"
    ]


def test_the_candidate_primary_is_next_and_a_disagreement_is_named() -> None:
    base, cand = _runs(None, "auc", accuracy=(90.0, 89.0), auc=(80.0, 76.0))
    metric, warnings = _gap(base, cand)
    assert metric == "auc" and "the candidate's recorded primary metric" in warnings[0]
    base, cand = _runs("accuracy", "auc", accuracy=(90.0, 89.0), auc=(80.0, 76.0))
    choice = default_metric(base, cand)
    assert choice is not None and choice.name == "accuracy"
    assert "(the candidate records auc as its primary metric)" in choice.rule


def test_without_primaries_the_alphabetical_rule_is_named_in_the_warning() -> None:
    base, cand = _runs(None, None, auc=(80.0, 76.0), accuracy=(90.0, 89.0))
    metric, warnings = _gap(base, cand)
    assert metric == "accuracy"
    assert "the alphabetically first of the metrics both runs hold (accuracy, auc)" in warnings[0]
    assert "neither run records a primary metric" in warnings[0]


def test_a_primary_the_candidate_lacks_is_refused_naming_the_rule() -> None:
    base, cand = _runs("auc", None, accuracy=(90.0, 89.0), auc=(80.0, 76.0))
    cand = replace(cand, results=replace(cand.results, metrics={"accuracy": Metric(89.0)}))
    with pytest.raises(InputError) as err:
        _gap(base, cand)
    assert "wed.json lacks the metric 'auc' (the baseline's recorded primary metric)" in str(
        err.value
    )
    assert "--metric" in (err.value.hint or "")


def test_diagnose_uses_the_recorded_primary_metric(tmp_path: Path) -> None:
    base, cand = _runs("auc", "auc", accuracy=(90.0, 91.0), auc=(80.0, 76.0))
    diagnosis = reprodiag.diagnose(base, cand, check_snapshots=False)
    assert diagnosis.gap.metric == "auc" and diagnosis.gap.worse_by == pytest.approx(4.0)


def test_one_run_defaults_to_its_primary_for_the_noise_band() -> None:
    base, _ = _runs("auc", None, accuracy=(90.0, 89.0), auc=(80.0, 76.0))
    choice = default_metric_of(base)
    assert choice is not None and (choice.name, choice.rule) == (
        "auc",
        "the run's recorded primary metric",
    )
    plain, _ = _runs(None, None, accuracy=(90.0, 89.0), auc=(80.0, 76.0))
    fallback = default_metric_of(plain)
    assert fallback is not None and fallback.name == "accuracy"
    assert fallback.warning is not None and "records no primary metric" in fallback.warning


# --- the shell command -------------------------------------------------------------------------


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "reprodiag", "capture", *args, "--code-root", "."],
        capture_output=True,
        text=True,
        cwd=cwd,
    )


def test_cli_capture_records_the_primary_metric_and_resolutions(tmp_path: Path) -> None:
    proc = _cli(
        "m.json",
        "--metric", "accuracy=91.5",
        "--metric", "auc=80.25",
        "--primary-metric", "auc",
        "--metric-resolution", "accuracy=0.05",
        cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    manifest = load_manifest(tmp_path / "m.json")
    assert manifest.results.primary_metric == "auc"
    assert metric_resolution(manifest, "accuracy") == 0.05
    one = _cli("one.json", "--metric", "auc=80", cwd=tmp_path)
    assert one.returncode == 0, one.stderr
    assert load_manifest(tmp_path / "one.json").results.primary_metric == "auc"


def test_cli_capture_refuses_a_primary_or_resolution_it_has_no_metric_for(tmp_path: Path) -> None:
    wrong = _cli("m.json", "--metric", "auc=80", "--primary-metric", "f1", cwd=tmp_path)
    assert wrong.returncode == 3 and "primary metric 'f1' is not among" in wrong.stderr
    orphan = _cli("m.json", "--metric-resolution", "accuracy=0.05", cwd=tmp_path)
    assert orphan.returncode == 3 and "resolution given for 'accuracy'" in orphan.stderr
    assert not (tmp_path / "m.json").exists()
    helptext = subprocess.run(
        [sys.executable, "-m", "reprodiag", "capture", "--help"], capture_output=True, text=True
    ).stdout
    for option in ("--primary-metric", "--metric-resolution", "--weights-digest", "--output-file"):
        assert option in helptext
