"""MLflow integration against a real local tracking store (sqlite, artifacts in a temp folder).

One module-scoped store holds every run; MLflow's environment variables point into the temp
folder so nothing is written to the home folder or the working directory.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from reprodiag.cli import main
from reprodiag.manifest import Skipped, load_manifest

mlflow = pytest.importorskip("mlflow")

REQUIREMENTS = b"numpy==2.0.1\ntorch==2.3.0\nscikit-learn>=1.3\n"
NOT_RECORDED = "not recorded by MLflow"


@dataclass(frozen=True)
class Store:
    uri: str
    full: str  # a run with everything MLflow can record
    bare: str  # a run with nothing but its name, never ended
    model: str  # a run whose environment lives in an MLflow 3 logged model
    root: Path


def _full_run(client: Any, exp: str, root: Path) -> str:
    from mlflow.data.delta_dataset_source import DeltaDatasetSource
    from mlflow.entities import DatasetInput, InputTag

    tags = {
        "mlflow.source.git.commit": "4f1c2e9a7b3d5c6e8f90a1b2c3d4e5f6a7b8c9d0",
        "mlflow.source.git.branch": "main",
        "mlflow.source.git.repoURL": "https://alice:s3cret@git.example.com/ml/ctr.git",
        "mlflow.source.name": "train.py",
        "mlflow.user": "alice",
        "team": "ranking",
        "mlflow.note.content": "weekly retrain on fresh events",
    }
    run_id = client.create_run(exp, run_name="monday", tags=tags).info.run_id
    for key, value in {
        "lr": "0.001",
        "epochs": "8",
        "seed": "1234",
        "torch_seed": "7",
        "optimizer": "adam",
        "use_bn": "true",
        "layers": "[64, 32]",
    }.items():
        client.log_param(run_id, key, value)
    for key, number in {"auc": 0.81, "val_loss": 0.42, "error_rate": 0.1}.items():
        client.log_metric(run_id, key, number)
    (root / "requirements.txt").write_bytes(REQUIREMENTS)
    (root / "model").mkdir()
    (root / "model" / "python_env.yaml").write_text("python: 3.11.7\nbuild_dependencies: []\n")
    client.log_artifact(run_id, str(root / "requirements.txt"))
    client.log_artifact(run_id, str(root / "model" / "python_env.yaml"), "model")
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame({"x": [1.0, 2.0, 3.0], "y": [0, 1, 0]})
    train = mlflow.data.from_pandas(
        frame,
        name="events",
        source=DeltaDatasetSource(path=str(root / "events"), delta_table_version=3),
    )
    evaluation = mlflow.data.from_pandas(frame, name="holdout", source=str(root / "eval.csv"))
    extra = mlflow.data.from_pandas(frame, name="probe", source=str(root / "probe.csv"))
    client.log_inputs(
        run_id,
        datasets=[
            DatasetInput(d._to_mlflow_entity(), tags=[InputTag("mlflow.data.context", c)])
            for d, c in ((train, "training"), (evaluation, "eval"), (extra, "testing"))
        ],
    )
    client.set_terminated(run_id)
    return str(run_id)


def _model_run(client: Any, exp: str, root: Path) -> str:
    """MLflow 3 keeps a logged model's files apart from the run's artifacts."""
    from mlflow.entities import LoggedModelOutput

    run_id = client.create_run(exp, run_name="with-model").info.run_id
    model = client.create_logged_model(exp, source_run_id=run_id)
    folder = root / "model-files"
    folder.mkdir()
    (folder / "conda.yaml").write_text("dependencies:\n  - python=3.10.12\n  - pip\n")
    client.log_model_artifacts(model.model_id, str(folder))
    client.log_outputs(run_id, [LoggedModelOutput(model.model_id, 0)])
    client.set_terminated(run_id)
    return str(run_id)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    root = tmp_path_factory.mktemp("mlflow")
    uri = f"sqlite:///{root}/mlflow.db"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLFLOW_TRACKING_URI", uri)
        mp.setenv("MLFLOW_REGISTRY_URI", uri)
        mp.setenv("MLFLOW_ARTIFACTS_DESTINATION", str(root / "artifacts"))
        mp.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
        mp.setenv("DO_NOT_TRACK", "true")
        mp.chdir(root)  # MLflow's default artifact root (./mlruns) lands in the temp folder
        client = mlflow.MlflowClient(tracking_uri=uri)
        exp = client.create_experiment(
            "ctr-weekly", artifact_location=(root / "artifacts").as_uri()
        )
        full = _full_run(client, exp, root)
        bare = client.create_run(exp, run_name="bare").info.run_id
        model = _model_run(client, exp, root)
        yield Store(uri=uri, full=full, bare=bare, model=model, root=root)


def _import(store: Store, run_id: str, **kwargs: Any) -> Any:
    from reprodiag.integrations import import_mlflow_run

    return import_mlflow_run(run_id, tracking_uri=store.uri, **kwargs)


def test_full_run_imports_every_recorded_fact(store: Store) -> None:
    result = _import(store, store.full)
    m = result.manifest
    assert (m.run.run_id, m.run.captured_by) == (store.full, "import")
    assert m.code.commit == "4f1c2e9a7b3d5c6e8f90a1b2c3d4e5f6a7b8c9d0"
    assert m.code.branch == "main"
    assert m.code.remote == "https://git.example.com/ml/ctr.git"  # credentials stripped
    assert m.code.entrypoint == "train.py"
    assert m.code.lock.kind == "requirements" and m.code.lock.path == "requirements.txt"
    assert m.code.lock.sha256 == "sha256:" + hashlib.sha256(REQUIREMENTS).hexdigest()
    assert m.environment.libraries == {"numpy": "2.0.1", "torch": "2.3.0"}  # ranges are not pins
    assert m.environment.python == "3.11.7"
    assert m.intent.params == {
        "epochs": 8,
        "layers": [64, 32],
        "lr": 0.001,
        "optimizer": "adam",
        "seed": 1234,
        "torch_seed": 7,
        "use_bn": True,
    }
    assert (m.intent.experiment, m.intent.run_name, m.intent.owner) == (
        "ctr-weekly",
        "monday",
        "alice",
    )
    assert m.intent.hypothesis == "weekly retrain on fresh events"
    assert m.intent.tags == {"team": "ranking"}
    assert {k: (v.value, v.direction) for k, v in m.results.metrics.items()} == {
        "auc": (0.81, "higher"),
        "val_loss": (0.42, "lower"),
        "error_rate": (0.1, "lower"),
    }
    assert m.results.status == "finished" and isinstance(m.results.finished_at, str)
    train, evaluation = m.data.train, m.data.eval
    assert (train.format, train.uri, train.version) == ("delta", str(store.root / "events"), 3)
    assert train.fingerprint.startswith("mlflow-digest:")
    assert (evaluation.format, evaluation.uri) == ("unversioned", str(store.root / "eval.csv"))
    assert evaluation.version == Skipped("MLflow recorded a digest, not a version")
    assert any("'probe'" in w and "'testing'" in w for w in result.warnings)


def test_seeds_only_where_the_param_names_the_generator(store: Store) -> None:
    r = _import(store, store.full).manifest.randomness
    assert r.torch_seed == 7
    for name in ("python_seed", "numpy_seed", "cuda_seed"):
        assert isinstance(getattr(r, name), Skipped)
        assert "'seed' param was logged (seed=1234); which generators it seeded is unknown" in (
            getattr(r, name).reason
        )
    assert r.derivation.startswith("from MLflow params: torch_seed")
    assert r.deterministic_algorithms.reason.startswith(NOT_RECORDED)


def test_bare_run_is_all_skipped_with_reasons(store: Store) -> None:
    m = _import(store, store.bare).manifest
    assert m.code.commit == Skipped(f"{NOT_RECORDED}: no mlflow.source.git.commit tag")
    assert m.code.dirty.reason.startswith(NOT_RECORDED)
    assert "no requirements.txt or conda.yaml" in m.code.lock.reason
    assert m.data.train == Skipped(f"{NOT_RECORDED}: no dataset input with context 'training'")
    assert m.randomness.python_seed == Skipped(f"{NOT_RECORDED}: no seed param was logged")
    assert m.intent.tier.reason.startswith(NOT_RECORDED)
    assert m.results.status == "running"
    assert m.results.finished_at.reason.startswith(NOT_RECORDED)
    assert m.results.metrics == {} and m.intent.params == {}


def test_logged_model_environment_and_options(store: Store) -> None:
    m = _import(
        store, store.model, tier="experimental", metric_directions={"auc": "lower"}
    ).manifest
    assert m.code.lock.kind == "conda.yaml" and m.code.lock.path.endswith("/conda.yaml")
    assert m.environment.python == "3.10.12"
    assert m.intent.tier == "experimental"


def test_cli_writes_a_valid_manifest(
    store: Store, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "monday.json"
    with pytest.raises(SystemExit) as exit_info:
        main(
            [
                "import",
                "mlflow",
                store.full,
                "--out",
                str(out),
                "--metric-direction",
                "error_rate=higher",
                "--tier",
                "shipped",
            ]
        )
    captured = capsys.readouterr()
    assert exit_info.value.code == 0, captured.err
    assert "tracking URI from MLFLOW_TRACKING_URI" in captured.out
    manifest = load_manifest(out)
    assert manifest.results.metrics["error_rate"].direction == "higher"
    assert manifest.intent.tier == "shipped"
    assert "warning: dataset input 'probe'" in captured.err


def test_cli_missing_run_is_bad_input(
    store: Store, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["import", "mlflow", "0123456789abcdef", "--out", str(tmp_path / "x.json")])
    err = capsys.readouterr().err
    assert exit_info.value.code == 3
    assert "'0123456789abcdef'" in err and store.uri in err and "no such run" in err
    assert not (tmp_path / "x.json").exists()


def test_cli_missing_database_is_bad_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nowhere.db"
    with pytest.raises(SystemExit) as exit_info:
        main(["import", "mlflow", "abc", "--tracking-uri", f"sqlite:///{missing}"])
    assert exit_info.value.code == 3
    assert f"no MLflow database at {missing}" in capsys.readouterr().err
    assert not missing.exists()


def test_cli_default_uri_is_named_and_bad_direction_is_usage(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.chdir(tmp_path)  # MLflow's default store is ./mlflow.db: absent here
    with pytest.raises(SystemExit) as exit_info:
        main(["import", "mlflow", "abc"])
    assert exit_info.value.code == 3
    assert "from mlflow's default" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        main(["import", "mlflow", "abc", "--metric-direction", "auc=up"])
    assert exit_info.value.code == 2
    assert "auc=up" in capsys.readouterr().err


def test_log_manifest_and_diagnosis(store: Store, tmp_path: Path) -> None:
    from reprodiag.diagnosis.engine import diagnose
    from reprodiag.integrations import log_to_mlflow
    from reprodiag.manifest import canonical_json
    from tests.helpers.manifests import example_manifest, example_snapshot

    baseline = example_manifest(run_id="run-a")
    candidate = example_manifest(run_id="run-b", auc=76.0)
    candidate = replace(candidate, data=replace(candidate.data, train=example_snapshot(4)))
    diagnosis = diagnose(baseline, candidate, check_snapshots=False)
    client = mlflow.MlflowClient(tracking_uri=store.uri)
    run_id = client.create_run(
        client.get_experiment_by_name("ctr-weekly").experiment_id
    ).info.run_id
    log_to_mlflow(run_id, manifest=candidate, diagnosis=diagnosis)  # URI from the environment
    tags = client.get_run(run_id).data.tags
    assert tags["reprodiag.schema"] == "reprodiag.manifest/v1"
    assert tags["reprodiag.tier"] == "shipped"
    assert tags["reprodiag.top_axis"] == diagnosis.ranking[0].axis
    assert "reprodiag.outcome" not in tags  # no noise band measured in manifest-only mode
    folder = Path(client.download_artifacts(run_id, "reprodiag", str(tmp_path)))
    assert (folder / "manifest.json").read_text() == canonical_json(candidate)
    assert json.loads((folder / "diagnosis.json").read_text())["format"] == "reprodiag.diagnosis/v2"


def test_log_refuses_nothing_and_missing_run(store: Store) -> None:
    from reprodiag.errors import InputError
    from reprodiag.integrations import log_to_mlflow
    from tests.helpers.manifests import example_manifest

    with pytest.raises(InputError, match="nothing to log"):
        log_to_mlflow(store.full, tracking_uri=store.uri)
    with pytest.raises(InputError, match="no such run"):
        log_to_mlflow("feedfacefeedface", manifest=example_manifest(), tracking_uri=store.uri)


@pytest.mark.slow  # about a minute on a 2-core machine: a dozen LightGBM retrains
def test_imported_runs_retrain_confirm_a_data_change_and_the_report_goes_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two runs logged to a real MLflow store (sqlite) with Delta dataset inputs, imported,
    compared with retrains (the relabelled data is confirmed), and the report logged back onto
    the candidate run and read back from its artifacts."""
    import subprocess
    import sys

    from deltalake import write_deltalake
    from mlflow.data.delta_dataset_source import DeltaDatasetSource
    from mlflow.entities import DatasetInput, InputTag

    from reprodiag.diagnosis import load_diagnosis
    from reprodiag.retrain.interface import TrainContext
    from reprodiag.snapshots import open_snapshot
    from tests.helpers import framework_trainers as ft
    from tests.helpers.git import git

    pd = pytest.importorskip("pandas")
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    for var, value in {
        "MLFLOW_TRACKING_URI": uri,
        "MLFLOW_REGISTRY_URI": uri,
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "DO_NOT_TRACK": "true",
    }.items():
        monkeypatch.setenv(var, value)
    monkeypatch.chdir(tmp_path)
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "job.py").write_text(Path(ft.__file__).read_text())
    (repo / "requirements.txt").write_text("lightgbm==4.7.0\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "job")
    commit = git(repo, "rev-parse", "HEAD")
    rows = ft.make_rows(1500, 5)
    train, evaluation = str(tmp_path / "train"), str(tmp_path / "eval")
    # MLflow leaves version 0 out of a Delta source, so the runs read versions 1 and 2
    for share, seed in ((0.0, 0), (0.05, 6), (0.30, 7)):
        write_deltalake(train, pd.DataFrame(ft.flip_labels(rows, share, seed)), mode="overwrite")
    for n in (10, 1000):
        write_deltalake(evaluation, pd.DataFrame(ft.make_rows(n, 8)), mode="overwrite")

    client = mlflow.MlflowClient(tracking_uri=uri)
    exp = client.create_experiment("churn", artifact_location=(tmp_path / "art").as_uri())

    def logged_run(name: str, version: int, seed: int) -> str:
        tags = {
            "mlflow.source.git.commit": commit,
            "reprodiag.entrypoint": "job:boosted",
            "reprodiag.dirty": "false",  # the run says its tree was clean (MLflow cannot)
            "reprodiag.family": "churn-gbm",
        }
        run_id = str(client.create_run(exp, run_name=name, tags=tags).info.run_id)
        client.log_param(run_id, "seed", str(seed))
        data = open_snapshot(train, version=version)
        held = open_snapshot(evaluation, version=1)
        for metric, value in ft.boosted(TrainContext({}, seed, data, held)).items():
            client.log_metric(run_id, metric, value)
        frame = data.to_pandas()  # MLflow keys a dataset by name and digest: the real rows
        sets = [
            (DeltaDatasetSource(path=train, delta_table_version=version), "training", "events"),
            (DeltaDatasetSource(path=evaluation, delta_table_version=1), "eval", "holdout"),
        ]
        client.log_inputs(
            run_id,
            datasets=[
                DatasetInput(
                    mlflow.data.from_pandas(frame, source=source, name=name)._to_mlflow_entity(),
                    tags=[InputTag("mlflow.data.context", context)],
                )
                for source, context, name in sets
            ],
        )
        client.set_terminated(run_id)
        return run_id

    monday, wednesday = logged_run("monday", 1, 1), logged_run("wednesday", 2, 2)
    for run_id, name in ((monday, "monday"), (wednesday, "wednesday")):
        with pytest.raises(SystemExit) as exit_:
            main(["import", "mlflow", run_id, "--out", str(tmp_path / f"{name}.json")])
        assert exit_.value.code == 0
    imported = load_manifest(tmp_path / "monday.json")
    pinned = open_snapshot(train, version=1).ref
    assert imported.data.train.fingerprint == pinned.fingerprint  # reprodiag's, not MLflow's
    assert imported.data.eval.fingerprint == open_snapshot(evaluation, version=1).ref.fingerprint
    assert imported.code.entrypoint == "job:boosted"

    out = tmp_path / "report"
    runs = [str(tmp_path / "monday.json"), str(tmp_path / "wednesday.json")]
    argv = [sys.executable, "-m", "reprodiag", "compare", *runs]
    argv += ["--retrain", "--trainer", "job:boosted", "--max-retrains", "12", "--out", str(out)]
    argv += ["--band-store", str(tmp_path / "band-store"), "--device", "cpu"]
    proc = subprocess.run(
        argv,
        cwd=repo,  # the team's checkout: the retrains run its recorded commit
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(repo)},
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    d = load_diagnosis(out / "diagnosis.json")
    ranks = {r.axis: r for r in d.ranking}
    assert ranks["data"].status == "confirmed", ranks["data"].reason
    seed_rows = [f for a in d.diff.axes for f in a.fields if f.path == "intent.params.seed"]
    assert seed_rows and seed_rows[0].axis == "randomness"  # the seed param is randomness

    with pytest.raises(SystemExit) as exit_:
        main(["log", "mlflow", wednesday, "--report", str(out)])
    assert exit_.value.code == 0
    back = Path(client.download_artifacts(wednesday, "reprodiag", str(tmp_path / "back")))
    assert (back / "report" / "report.html").read_bytes() == (out / "report.html").read_bytes()
    assert load_diagnosis(back / "diagnosis.json").ranking == d.ranking
    verdicts = (back / "verdicts.md").read_text()
    assert "| 1 | data | confirmed |" in verdicts
    assert client.get_run(wednesday).data.tags["reprodiag.top_axis"] == "data"
