"""`compare --retrain` where no retrain can run: exit 7, and the report's conclusion says why.

Two real cases: runs logged to a real MLflow store (sqlite) without the `reprodiag.dirty` tag,
imported (MLflow cannot say whether the tree was clean, so the code cannot be rebuilt), and a
manifest whose commit is not in the real git repository given with --repo. Neither retrains
anything: the failure comes before the first retrain, so each test takes seconds.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from reprodiag.cli import main
from reprodiag.diagnosis import load_diagnosis
from reprodiag.errors import EXIT_NO_RETRAIN
from reprodiag.manifest.codec import write_manifest
from tests.helpers.git import git
from tests.helpers.manifests import example_manifest

TRAINER = "tests.helpers.trainers:fast"


def _cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    out, err = capsys.readouterr()
    assert "Traceback" not in err, err
    code = exit_.value.code
    return (code if isinstance(code, int) else 1), out, err


def _assert_no_retrain_report(out: Path, reason: str) -> None:
    """Every format of the folder says no retrain ran and why; nothing was retrained."""
    d = load_diagnosis(out / "diagnosis.json")
    assert d.conclusion is not None and d.conclusion.kind == "no retrain ran"
    assert reason in d.conclusion.sentence
    assert "none could run" in d.conclusion.sentence
    assert d.band is None
    assert not any(c.status == "done" and c.retrains > 0 for c in d.checks)
    assert any((c.observed or "").startswith("cannot retrain: ") for c in d.checks)
    assert not any(c.status == "planned" for c in d.checks)
    assert d.provenance is not None and d.provenance.seeds == ()
    html = (out / "report.html").read_text()
    md = (out / "report.md").read_text()
    assert 'id="conclusion"' in html and "no retrain ran: retrains were asked for" in html
    assert "**Conclusion:** no retrain ran: retrains were asked for" in md
    assert not (out / "retrains").exists() or not any((out / "retrains").iterdir())


def test_imported_mlflow_runs_without_the_dirty_tag_exit_7(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    mlflow = pytest.importorskip("mlflow")
    pd = pytest.importorskip("pandas")
    from deltalake import write_deltalake
    from mlflow.data.delta_dataset_source import DeltaDatasetSource
    from mlflow.entities import DatasetInput, InputTag

    uri = f"sqlite:///{tmp_path}/mlflow.db"
    for var, value in {
        "MLFLOW_TRACKING_URI": uri,
        "MLFLOW_REGISTRY_URI": uri,
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "DO_NOT_TRACK": "true",
    }.items():
        monkeypatch.setenv(var, value)
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "job.py").write_text("def train(ctx):\n    return {'auc': 0.5}\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "job")
    commit = git(repo, "rev-parse", "HEAD")
    monkeypatch.chdir(repo)
    train, evaluation = str(tmp_path / "train"), str(tmp_path / "eval")
    frame = pd.DataFrame({"x": [0.1, 0.2, 0.3, 0.4], "label": [0, 1, 0, 1]})
    for _ in range(3):  # versions 0..2: MLflow leaves version 0 out of a Delta source
        write_deltalake(train, frame, mode="overwrite")
    for _ in range(2):
        write_deltalake(evaluation, frame, mode="overwrite")
    client = mlflow.MlflowClient(tracking_uri=uri)
    exp = client.create_experiment("churn", artifact_location=(tmp_path / "art").as_uri())

    def logged_run(name: str, version: int, auc: float) -> str:
        tags = {  # no reprodiag.dirty: MLflow cannot say whether the tree was clean
            "mlflow.source.git.commit": commit,
            "reprodiag.entrypoint": "job:train",
            "reprodiag.family": "churn",
        }
        run_id = str(client.create_run(exp, run_name=name, tags=tags).info.run_id)
        client.log_param(run_id, "seed", "1")
        client.log_metric(run_id, "auc", auc)
        sets = [
            (DeltaDatasetSource(path=train, delta_table_version=version), "training", "events"),
            (DeltaDatasetSource(path=evaluation, delta_table_version=1), "eval", "holdout"),
        ]
        client.log_inputs(
            run_id,
            datasets=[
                DatasetInput(
                    mlflow.data.from_pandas(frame, source=src, name=n)._to_mlflow_entity(),
                    tags=[InputTag("mlflow.data.context", context)],
                )
                for src, context, n in sets
            ],
        )
        client.set_terminated(run_id)
        return run_id

    manifests = []
    for name, version, auc in (("monday", 1, 0.81), ("wednesday", 2, 0.76)):
        path = tmp_path / f"{name}.json"
        code, _, err = _cli(
            ["import", "mlflow", logged_run(name, version, auc), "--out", str(path)], capsys
        )
        assert code == 0, err
        manifests.append(str(path))
    out = tmp_path / "report"
    argv = ["compare", *manifests, "--retrain", "--trainer", TRAINER, "--out", str(out)]
    argv += ["--no-band-store", "--device", "cpu"]
    code, stdout, err = _cli(argv, capsys)

    assert code == EXIT_NO_RETRAIN == 7, stdout + err
    assert "reprodiag: error: retrains were asked for, but none could run" in err
    assert "whether the tree was clean is not recorded" in err
    assert "Conclusion: no retrain ran:" in stdout
    _assert_no_retrain_report(out, "whether the tree was clean is not recorded")


def test_a_commit_not_in_the_repository_exits_7(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "train.py").write_text("print('hello')\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "the only commit")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # not a repository: the current folder cannot stand in
    missing = "0123456789abcdef0123456789abcdef01234567"
    paths = []
    for name, auc, seed in (("monday", 82.0, 1234), ("wednesday", 78.0, 99)):
        manifest = example_manifest(seed=seed, auc=auc, run_id=name)
        manifest = dataclasses.replace(
            manifest, code=dataclasses.replace(manifest.code, commit=missing)
        )
        paths.append(str(write_manifest(manifest, tmp_path / f"{name}.json")))
    out = tmp_path / "report"
    argv = ["compare", *paths, "--retrain", "--trainer", TRAINER, "--repo", str(repo)]
    argv += ["--out", str(out), "--no-band-store", "--device", "cpu"]
    code, stdout, err = _cli(argv, capsys)

    assert code == EXIT_NO_RETRAIN, stdout + err
    assert f"the recorded commit {missing} is not in the repository" in err
    _assert_no_retrain_report(out, f"the recorded commit {missing} is not in the repository")
    # the conclusion also says what would make it retrainable (the error's hint)
    sentence = load_diagnosis(out / "diagnosis.json").conclusion
    assert sentence is not None and "; to retrain it: " in sentence.sentence


def test_help_documents_exit_7(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _cli(["--help"], capsys)
    assert code == 0
    assert "  7  `compare --retrain`: the report is written, but no retrain could run" in out
    code, out, _ = _cli(["compare", "--help"], capsys)
    assert code == 0 and "7 when no retrain can" in " ".join(out.split())
