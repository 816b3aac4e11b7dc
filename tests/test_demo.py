"""The end-to-end demo: the lesson's incident, confirmed by retrains (about 20 s on a busy 2-core
CPU), and the one training run the demo captures twice (a real torch fit on a tiny Delta table)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reprodiag.demo import (
    AlsoRecorded,
    DemoSettings,
    Pipeline,
    default_params,
    run_demo,
    team_repository,
    train_captured,
)
from reprodiag.errors import InputError


def test_one_training_run_captured_twice_pinned_and_as_read_latest(tmp_path: Path) -> None:
    from reprodiag.family import create_table
    from reprodiag.family.data import eval_table_path, train_table_path
    from reprodiag.manifest import load_manifest
    from reprodiag.snapshots import open_snapshot, unversioned_ref

    create_table(tmp_path, days=1, rows_per_day=300, seed=3, eval_rows=200)
    data = open_snapshot(train_table_path(tmp_path))
    pipeline = Pipeline(
        params={**default_params(), "epochs": 1},
        code_root=team_repository(tmp_path / "job"),
        eval_data=open_snapshot(eval_table_path(tmp_path)),
    )
    latest = unversioned_ref(str(train_table_path(tmp_path)), "read as latest")
    pinned = train_captured(
        tmp_path / "pinned.json",
        pipeline,
        data=data,
        seed=5,
        run_name="monday",
        output_dir=tmp_path / "run",
        also=AlsoRecorded(tmp_path / "latest" / "monday.json", latest, tmp_path / "run"),
    )
    a, b = load_manifest(pinned), load_manifest(tmp_path / "latest" / "monday.json")
    # One fit: the same metrics and the same weight and prediction digests in both manifests.
    assert a.results.metrics == b.results.metrics and a.results.metrics["auc"].value > 0
    assert a.results.outputs is not None and a.results.outputs.weights is not None
    assert a.results.outputs == b.results.outputs
    # What each records as the training data and its gate: pinned and shipped, latest and none.
    assert a.data.train.version == data.ref.version and a.intent.tier == "shipped"
    assert b.data.train.format == "unversioned" and not isinstance(b.intent.tier, str)
    assert a.run.run_id != b.run.run_id and a.randomness == b.randomness


def test_demo_ranks_data_first_confirmed_by_the_pinned_snapshot(tmp_path: Path) -> None:
    import torch

    threads = torch.get_num_threads()
    result = run_demo(tmp_path / "demo", DemoSettings(eval_rows=3000))
    # One CPU thread for every training of the demo, recorded alike on both runs; this
    # process's own thread count is put back afterwards.
    assert torch.get_num_threads() == threads
    for name in ("monday.json", "wednesday.json"):
        assert json.loads((tmp_path / "demo" / name).read_text())["environment"]["threads"] == 1
    retrained = sorted((tmp_path / "demo" / "retrains").glob("*/manifest.json"))
    assert retrained  # and the retrain worker ran with the same one thread
    assert {json.loads(p.read_text())["environment"]["threads"] for p in retrained} == {1}
    top = result.diagnosis.ranking[0]
    assert (top.axis, top.status) == ("data", "confirmed")
    assert top.attribution is not None and top.attribution.check == "pinned_snapshot"
    band = result.diagnosis.band
    assert band is not None and band.n >= 3 and band.outcome == "beyond noise"
    saved = json.loads((tmp_path / "demo" / "diagnosis.json").read_text())
    assert saved["ranking"][0]["axis"] == "data" and saved["band"]["n"] == band.n
    # What changed inside the data, beside the data verdict: the rows the two drifted days and
    # the relabelling added and removed, the label rates, and the relabelling commit itself.
    content = result.diagnosis.content
    assert content is not None and [d.role for d in content.data] == ["train"]
    data = content.data[0]
    assert (data.baseline_version, data.candidate_version, len(data.commits)) == (4, 7, 3)
    assert data.rows_added and data.rows_removed and data.label is not None
    assert saved["content"]["data"][0]["rows_added"] == data.rows_added
    page = (tmp_path / "demo" / "report.html").read_text()
    assert 'id="content-data"' in page and "reprodiag.op=correct-labels" in page
    # Without a pinned Monday snapshot the data axis cannot be confirmed: it stays a candidate,
    # the report says what stays open, and the Wednesday band is reused from the store.
    unpinned = result.unpinned
    assert unpinned.ranking[0].axis == "data" and unpinned.ranking[0].status != "confirmed"
    assert any("stays open" in line for line in unpinned.conclusion_open)
    assert unpinned.band is not None and unpinned.band.n == band.n
    assert (tmp_path / "demo" / "unpinned" / "report.html").exists()


@pytest.mark.slow
def test_demo_refuses_to_delete_a_folder_it_did_not_make(tmp_path: Path) -> None:
    (tmp_path / "demo" / "work").mkdir(parents=True)
    (tmp_path / "demo" / "work" / "precious.txt").write_text("keep me")
    with pytest.raises(InputError, match="not made by reprodiag demo"):
        run_demo(tmp_path / "demo")
    assert (tmp_path / "demo" / "work" / "precious.txt").exists()
