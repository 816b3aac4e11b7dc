"""Report sentences that are true and agree with each other (the reviewer's defects after issue 15).

Real components throughout: Delta tables written with deltalake and Iceberg tables on a local
SqlCatalog (sqlite) written with pyiceberg, diagnoses made by reprodiag.diagnose and confirm()
with real (millisecond, numpy) retrains, reports rendered by the real renderers.
"""

from __future__ import annotations

import dataclasses
import re
import time
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from reprodiag.snapshots import open_snapshot
from reprodiag.snapshots.history import HistoryUnavailable, versions_between
from tests.helpers.snapshots import catalog_options

# ---------------------------------------------------------------------------- table history

ROWS = pa.table({"id": pa.array([1, 2, 3], pa.int64()), "label": ["a", "b", "c"]})


def _iceberg(tmp_path: Path) -> tuple[str, dict[str, str], Any]:
    from pyiceberg.catalog.sql import SqlCatalog

    options = catalog_options(tmp_path)
    catalog = SqlCatalog("local", **options)
    catalog.create_namespace_if_not_exists("ml")
    table = catalog.create_table("ml.train", schema=ROWS.schema)
    table.append(ROWS)
    return "iceberg://local/ml.train", options, table


def _later(table: Any, write: Any) -> int:
    time.sleep(0.005)  # the snapshot log is ordered by milliseconds
    write()
    return int(table.current_snapshot().snapshot_id)


def test_iceberg_history_keeps_the_users_properties_and_names_states_nobody_trains_on(
    tmp_path: Path,
) -> None:
    uri, options, table = _iceberg(tmp_path)
    first = int(table.current_snapshot().snapshot_id)
    _later(table, lambda: table.append(ROWS))
    # pyiceberg's overwrite(): a DELETE snapshot (an empty table) and an APPEND, in one commit
    replaced = _later(table, lambda: table.overwrite(ROWS, snapshot_properties={"job": "fix"}))
    emptied = _later(table, lambda: table.delete())  # a delete on its own: an empty table
    last = _later(table, lambda: table.append(ROWS))
    older = open_snapshot(uri, version=first, storage_options=options).ref
    newer = open_snapshot(uri, version=last, storage_options=options).ref
    found = versions_between(older, newer, options)
    assert [v.operation for v in found] == ["append", "delete", "append", "delete", "append"]
    assert (
        found[-1].version == last and found[2].version == replaced and found[3].version == emptied
    )
    # Iceberg's own statistics are not the user's metadata; the user's property stays.
    for v in found:
        assert not [k for k in v.metadata if k.startswith(("added-", "total-", "deleted-"))]
    assert found[1].metadata == {"job": "fix"} and found[2].metadata == {"job": "fix"}
    # The delete half of the overwrite was never the table's state; the lone delete left it empty.
    assert found[1].skip is not None and "the delete half of an overwrite" in found[1].skip
    assert found[3].skip is not None and "the table is empty" in found[3].skip
    assert [v.skip for v in (found[0], found[2], found[4])] == [None, None, None]
    assert found[1].info()["skipped"] == found[1].skip


def test_versions_between_refuses_a_version_the_history_does_not_reach(tmp_path: Path) -> None:
    from deltalake import write_deltalake

    path = tmp_path / "events"
    for _ in range(3):
        write_deltalake(str(path), ROWS, mode="append")  # versions 0, 1, 2
    old = open_snapshot(str(path), version=0).ref
    assert [v.version for v in versions_between(old, dataclasses.replace(old, version=2))] == [
        1,
        2,
    ]
    with pytest.raises(HistoryUnavailable) as caught:
        versions_between(old, dataclasses.replace(old, version=9))
    assert "does not reach version 9 (its last entry is version 2)" in caught.value.message
    with pytest.raises(HistoryUnavailable) as reversed_:
        versions_between(dataclasses.replace(old, version=2), old)
    assert "version 2 comes after version 0" in reversed_.value.message


def test_the_content_diff_counts_the_commits_it_lists_in_words(tmp_path: Path) -> None:
    from reprodiag.diagnosis.content import DataContent, TableCommit, data_summary

    commits = tuple(TableCommit(v, "WRITE", None, "mode=Append") for v in (5, 6, 7))
    data = DataContent("train", "delta", "/t", 4, 7, commits=commits)
    line = data_summary(data)
    assert "3 commits after v4, up to and including v7 (v5 WRITE append" in line
    assert "in between" not in line
    one = data_summary(dataclasses.replace(data, candidate_version=5, commits=commits[:1]))
    assert "1 commit: v5 itself, right after v4" in one
    assert re.search(r"\b(\w+): \1\b", line) is None


def test_a_bisection_does_not_retrain_the_empty_half_of_a_pyiceberg_overwrite(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Monday trained on the first snapshot; two appends; pyiceberg's overwrite() relabels every
    row (a DELETE snapshot, the table empty, then an APPEND, in one commit); one more append. The
    bisection's points leave the DELETE out and name it; no retrain fails on an empty table."""

    import reprodiag
    from reprodiag.confirm import RetrainOptions, confirm, contradictions
    from reprodiag.manifest import load_manifest
    from reprodiag.probes import lock as probes_lock
    from tests.helpers import bisect_trainers, i13_repo

    i13_repo.use_catalog(monkeypatch, tmp_path / "lake")
    train = i13_repo.iceberg_table("ml.train", bisect_trainers.make_rows(400, 1))
    i13_repo.iceberg_table("ml.eval", bisect_trainers.make_rows(1000, 2))
    repo = i13_repo.make_repository(tmp_path / "job")
    evaluation = open_snapshot("iceberg://local/ml.eval")
    monday_data = open_snapshot("iceberg://local/ml.train")
    i13_repo.append_iceberg(train, bisect_trainers.make_rows(400, 11))
    i13_repo.append_iceberg(train, bisect_trainers.make_rows(400, 12))
    rows = pa.Table.from_pandas(
        bisect_trainers.relabel(train.scan().to_pandas()), preserve_index=False
    )
    relabelled = _later(train, lambda: train.overwrite(rows, snapshot_properties={"job": "fix"}))
    deleted = int(train.snapshot_by_id(relabelled).parent_snapshot_id)
    i13_repo.append_iceberg(train, bisect_trainers.make_rows(400, 14))
    wednesday_data = open_snapshot("iceberg://local/ml.train")
    capture = i13_repo.capture_run
    runs = tmp_path / "runs"
    monday = capture(runs / "monday.json", repo, monday_data, evaluation, 3, bisect_trainers.train)
    wednesday = capture(
        runs / "wednesday.json", repo, wednesday_data, evaluation, 7, bisect_trainers.train
    )
    monkeypatch.chdir(repo)
    monkeypatch.setitem(probes_lock._cache, "on", True)  # as a warm worker: read once
    options = RetrainOptions(
        executor=bisect_trainers.CodeDirExecutor(),  # in this process: milliseconds per retrain
        workdir=tmp_path / "retrains",
        max_retrains=24,
        device="cpu",
        trainer={"entrypoint": "tests.helpers.bisect_trainers:train"},
    )
    b, c = load_manifest(monday), load_manifest(wednesday)
    d = confirm(b, c, reprodiag.diagnose(b, c, metric="accuracy"), options)
    check = next(c for c in d.checks if c.key == "data_bisection")
    assert check.bisection is not None, check.observed
    assert f"version {deleted}" not in check.bisection.points
    assert f"version {relabelled}" in check.bisection.points
    assert all(r.status == "ok" for r in check.runs), [r.reason for r in check.runs]
    observed = check.observed or ""
    assert f"not retrained, as no pipeline trains on it: version {deleted} (the delete half" in (
        observed
    )
    assert check.bisection.first == f"version {relabelled}", observed
    assert contradictions(d) == []


# ---------------------------------------------------------------------------- the remainder


def _confirmed(points: tuple[float, ...], intervals: tuple[tuple[float, float], ...]) -> Any:
    """The with_band sample with the data axis (and, given two, the intent axis) confirmed."""
    from reprodiag.diagnosis.model import Attribution
    from tests.helpers.report_samples import with_band

    d = with_band()
    axes = ("data", "intent")[: len(points)]
    ranking = tuple(
        dataclasses.replace(
            r,
            status="confirmed",
            attribution=Attribution(
                r.axis, points[axes.index(r.axis)], *intervals[axes.index(r.axis)], "swap"
            ),
        )
        if r.axis in axes
        else r
        for r in d.ranking
    )
    return dataclasses.replace(d, ranking=ranking)


def _left(text: str) -> list[tuple[str, ...]]:
    from reprodiag.confirm.consistency import remainder_statements

    return remainder_statements(text)


def test_the_remainder_is_one_quantity_in_every_part_of_the_report() -> None:
    from reprodiag.confirm import contradictions
    from reprodiag.confirm.attribution import unexplained
    from reprodiag.report import renderer_for
    from reprodiag.report.view import build_view

    d = _confirmed((3.1,), ((2.54, 3.66),))
    rest = unexplained(d)
    assert rest is not None and rest.num(rest.points) == "0.90" and rest.level == 0.99
    view = build_view(d)
    chart = view.attribution_chart
    assert chart is not None
    row = chart.rows[-1]
    assert row[0] == "Unexplained remainder" and row[2:] == ("0.90 pts", "0.34 to 1.46")
    stated = _left(chart.desc) + _left(" ".join(view.unexplained))
    assert stated == [("0.90", "4.00", "0.34", "1.46")] * 2
    md = renderer_for("md").render(d)
    assert set(_left(" ".join(md.split()))) == {("0.90", "4.00", "0.34", "1.46")}
    # Several causes: the same figures everywhere, and the words say how the intervals combine.
    two = _confirmed((2.0, 1.5), ((1.5, 2.5), (1.0, 2.0)))
    words = " ".join(build_view(two).unexplained)
    assert "their 99 % intervals added: at least 98 % confidence" in words
    assert _left(words) == [("0.50", "4.00", "\u22120.50", "1.50")]
    assert not [c for c in contradictions(two) if "remainder" in c]


def test_a_remainder_stated_with_another_value_is_a_contradiction() -> None:
    from reprodiag.confirm import contradictions

    d = _confirmed((3.1,), ((2.54, 3.66),))
    true = dataclasses.replace(
        d, summary="Left unexplained: 0.90 of the 4.00 pts gap (99 % interval 0.34 to 1.46)."
    )
    assert not [c for c in contradictions(true) if "remainder" in c]
    # What the demo's report said before: the summary's remainder was another quantity.
    wrong = dataclasses.replace(
        d,
        summary=true.summary + " Left unexplained: 0.00 of the 4.00 pts gap (99 % interval "
        "\u22123.80 to 3.80).",
    )
    found = [c for c in contradictions(wrong) if "remainder" in c]
    assert "stated as 0.00 / 4.00 / \u22123.80 / 3.80 but computed as 0.90" in found[0]
    assert "stated with 2 different values" in found[-1]


def test_the_summary_of_a_confirmed_cause_states_the_reports_remainder(tmp_path: Path) -> None:
    """A real confirm(): the summary's remainder is the chart's and the words'."""
    from reprodiag.confirm import contradictions
    from reprodiag.report.view import build_view

    d = _explained(tmp_path)
    view = build_view(d)
    assert view.attribution_chart is not None
    summary, words = _left(d.summary), _left(" ".join(view.unexplained))
    assert len(summary) == 1 and summary == words == _left(view.attribution_chart.desc)
    assert view.attribution_chart.rows[-1][2] == f"{summary[0][0]} pts"
    assert contradictions(d) == []


def _explained(tmp_path: Path, store: Any = None, again: bool = False) -> Any:
    """A real incident on a Delta table: Monday on version 0, Wednesday after a relabelling
    overwrite (version 1); confirm() with millisecond numpy retrains in this process (twice with
    `again`, the second reading the first's band seeds back from `store`)."""
    import pytest as _pytest
    from deltalake import DeltaTable, write_deltalake

    import reprodiag
    from reprodiag.confirm import RetrainOptions, confirm
    from reprodiag.manifest import load_manifest
    from tests.helpers import bisect_trainers, i13_repo

    train, evaluation_path = tmp_path / "train", tmp_path / "eval"
    write_deltalake(str(train), bisect_trainers.make_rows(400, 1))
    write_deltalake(str(evaluation_path), bisect_trainers.make_rows(1000, 2))
    repo = i13_repo.make_repository(tmp_path / "job")
    evaluation = open_snapshot(str(evaluation_path), version=0)
    runs = tmp_path / "runs"
    capture = i13_repo.capture_run
    monday = capture(
        runs / "monday.json", repo, open_snapshot(str(train)), evaluation, 3, bisect_trainers.train
    )
    rows = bisect_trainers.relabel(DeltaTable(str(train)).to_pandas())
    write_deltalake(str(train), rows, mode="overwrite")
    wednesday = capture(
        runs / "wednesday.json",
        repo,
        open_snapshot(str(train)),
        evaluation,
        7,
        bisect_trainers.train,
    )
    with _pytest.MonkeyPatch.context() as patch:
        patch.chdir(repo)
        b, c = load_manifest(monday), load_manifest(wednesday)
        for round_ in range(2 if again else 1):
            options = RetrainOptions(
                executor=bisect_trainers.CodeDirExecutor(),
                workdir=tmp_path / f"retrains-{round_}",
                max_retrains=12,
                device="cpu",
                trainer={"entrypoint": "tests.helpers.bisect_trainers:train"},
                store=store,
            )
            d = confirm(b, c, reprodiag.diagnose(b, c, metric="accuracy"), options)
    assert d.conclusion is not None and d.conclusion.kind == "explained", d.summary
    return d


def test_a_band_read_back_from_the_store_costs_what_was_retrained_now(tmp_path: Path) -> None:
    from reprodiag.noise.store import BandStore

    d = _explained(tmp_path, BandStore(tmp_path / "band-store"), again=True)
    band = next(c for c in d.checks if c.key == "noise_band")
    used = int((d.stop_reason or "").split(" of ")[0])
    match = re.fullmatch(r"(\d+) seeds: (\d+) retrained now, (\d+) from the band store", band.cost)
    assert match is not None, band.cost  # was "4 retrains" beside "2 of 12 retrains used"
    n, now, stored = map(int, match.groups())
    assert n == now + stored and stored >= 3 and now <= used


# ---------------------------------------------------------------------------- the sentences


_DOUBLED = re.compile(r"\b([\w'][\w' ]{2,}?): \1\b", re.IGNORECASE)


def test_a_baseline_that_cannot_be_retrained_is_never_advised_to_be_retrained() -> None:
    from reprodiag.confirm.policy import CANDIDATE_BAND, Incident, investigate

    why = "its training data was read unpinned (as 'latest'), so there is no snapshot"
    incident = Incident(baseline=86.67, candidate=81.23, baseline_why=why)
    values = iter([80.90, 80.34, 80.91, 80.5, 80.7, 80.6, 80.8, 80.4])

    def retrain(request: Any) -> list[float | None]:
        assert request.arm == CANDIDATE_BAND
        return [next(values) for _ in range(request.count)]

    f = investigate(incident, retrain)
    spread = f.baseline_spread
    assert spread.startswith(f"the baseline pipeline cannot be retrained: {why}")
    assert "retraining the baseline pipeline" not in spread and "would settle it" not in spread
    assert "a swap that explains" not in spread  # there is no swap to run
    assert "the baseline lies beyond the candidate's seed band (" in f.conclusion.sentence


def test_no_rendered_sample_repeats_a_phrase_around_a_colon() -> None:
    from reprodiag.report import renderer_for
    from tests.helpers import report_samples

    for make in report_samples.SAMPLES.values():
        d = make()
        md = " ".join(renderer_for("md").render(d).split())
        assert _DOUBLED.search(md) is None, _DOUBLED.search(md)


def test_an_open_axis_whose_reason_opens_with_its_status_says_it_once() -> None:
    from reprodiag.report.charts import unexplained_words
    from tests.helpers.report_samples import with_band

    d = with_band()
    reason = "can't tell yet: n = 3: the baseline lies beyond the seed-noise band [79.11, 82.32]"
    ranking = tuple(
        dataclasses.replace(r, status="cant_tell", reason=reason, attribution=None)
        if r.axis == "randomness"
        else r
        for r in d.ranking
    )
    words = " ".join(unexplained_words(dataclasses.replace(d, ranking=ranking)))
    assert "randomness (can't tell yet: n = 3: the baseline lies beyond" in words
    assert _DOUBLED.search(words) is None, _DOUBLED.search(words)


def test_the_conclusion_says_its_kind_once() -> None:
    from reprodiag.diagnosis.model import Conclusion
    from reprodiag.report.view import build_view
    from tests.helpers.report_samples import with_band

    d = with_band()
    said = "the gap is explained: the data change explains 3.10 of the 4.00 pts"
    view = build_view(dataclasses.replace(d, conclusion=Conclusion("explained", said)))
    assert view.conclusion == "explained: the data change explains 3.10 of the 4.00 pts"
