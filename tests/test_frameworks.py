"""Runs without torch: scikit-learn and LightGBM captured, gated and retrained for real.

- A fully pinned scikit-learn run captured in a virtual environment WITHOUT torch passes
  `reprodiag check --tier shipped`: its torch facts are not applicable, not holes. The environment
  (`python -m venv`, no system site packages; numpy, scikit-learn and reprodiag's core
  dependencies from this machine's pip index, reprodiag itself installed editable with --no-deps)
  is made once and kept under the temp folder, keyed by the dependencies, the interpreter and
  this checkout; building it with uv takes seconds, later runs reuse it.
- A LightGBM trainer of our own (XGBoost is not installable from this machine's index) is
  retrained by `reprodiag compare --retrain`, which confirms a data change (5 % -> 30 % of the
  labels flipped) with the pinned-snapshot retrain.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import subprocess
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest

from reprodiag.diagnosis import load_diagnosis
from reprodiag.manifest.codec import iter_facts
from reprodiag.manifest.load import load_manifest
from reprodiag.manifest.model import Skipped
from tests.helpers import framework_trainers
from tests.helpers.git import git

ROOT = Path(__file__).resolve().parents[1]
CORE = ["numpy", "scikit-learn", "click", "pandas", "scipy", "jinja2", "jsonschema"]
CORE += ["deltalake[pandas,pyarrow]", "nvidia-ml-py"]


def _venv_key() -> str:
    """The cache key: the interpreter, this checkout, and reprodiag's declared dependencies."""
    import tomllib

    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    text = "\n".join([sys.version, str(ROOT), *CORE, *declared])
    return hashlib.sha256(text.encode()).hexdigest()[:12]


@pytest.fixture(scope="session")
def notorch_python() -> Path:
    """The Python of a cached virtual environment with scikit-learn and reprodiag, no torch."""
    home = Path(tempfile.gettempdir()) / f"reprodiag-test-venv-notorch-{_venv_key()}"
    python = home / "bin" / "python"
    ready = home / ".ready"
    lock = Path(f"{home}.lock")
    with lock.open("w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # one builder at a time; the others wait and reuse it
        if not ready.exists():
            _build_venv(home)
            ready.write_text("built\n")
    return python


def _build_venv(home: Path) -> None:
    """Built with uv (a dev dependency; reprodiag.retrain.envs finds it and translates this
    machine's pip index configuration): about 15 s, where `python -m venv` + pip took 3 minutes.
    The core packages are pinned to the versions of the running environment, so the build
    resolves nothing new."""
    from importlib import metadata

    from reprodiag.retrain.envs import find_uv, index_config

    if home.exists():  # a build that was interrupted
        import shutil

        shutil.rmtree(home)
    uv = find_uv()
    index = index_config()
    env = {**os.environ, **index.env}
    run = {"check": True, "capture_output": True, "text": True, "timeout": 900, "env": env}
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([uv, "venv", "--quiet", "--python", base, str(home)], **run)  # type: ignore[call-overload]
    python = str(home / "bin" / "python")
    pins = [_pinned(name, metadata) for name in CORE]
    install = [uv, "pip", "install", "--quiet", "--python", python, *index.args]
    subprocess.run([*install, *pins], **run)  # type: ignore[call-overload]
    subprocess.run([*install, "--no-deps", "-e", str(ROOT)], **run)  # type: ignore[call-overload]


def _pinned(requirement: str, metadata: object) -> str:
    """'deltalake[pandas,pyarrow]' -> 'deltalake[pandas,pyarrow]==1.6.6' (the installed one)."""
    name = requirement.split("[")[0]
    try:
        return f"{requirement}=={metadata.version(name)}"  # type: ignore[attr-defined]
    except Exception:  # not installed here: let the index choose
        return requirement


def _team_repo(folder: Path, job: str) -> Path:
    """A clean git repository with the training job and a lock file, committed."""
    folder.mkdir(parents=True)
    git(folder, "init", "-q", "-b", "main")
    (folder / "job.py").write_text(job)
    (folder / "requirements.txt").write_text("scikit-learn==1.9.1\nlightgbm==4.7.0\n")
    git(folder, "add", "-A")
    git(folder, "commit", "-q", "-m", "training job")
    return folder


SKLEARN_RUN = """
import sys

import reprodiag
from reprodiag.snapshots import open_snapshot
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss, roc_auc_score

out, train_uri, eval_uri, repo = sys.argv[1:5]
seeds = reprodiag.deterministic_seeds(1234)
train, evaluation = open_snapshot(train_uri), open_snapshot(eval_uri)
params = {"C": 0.5, "max_iter": 200, "random_state": 1234}
with reprodiag.capture(out, train=train, eval=evaluation, seeds=seeds, params=params,
                       family="churn-logreg", experiment="frameworks", tier="shipped",
                       entrypoint="job:train", code_root=repo) as run:
    frame, holdout = train.to_pandas(), evaluation.to_pandas()
    features = [c for c in frame.columns if c != "y"]
    model = LogisticRegression(**params).fit(frame[features], frame["y"])
    proba = model.predict_proba(holdout[features])[:, 1]
    run.log_estimator(model)
    run.log_metrics({"auc": 100 * roc_auc_score(holdout["y"], proba),
                     "log_loss": log_loss(holdout["y"], proba)}, primary="auc")
    run.log_outputs(weights={"coef_": model.coef_, "intercept_": model.intercept_},
                    predictions=proba)
"""


def _delta(path: Path, rows: dict, mode: str = "error") -> None:
    from deltalake import write_deltalake

    write_deltalake(str(path), pd.DataFrame(rows), mode=mode)


@pytest.mark.slow  # the first run builds the torch-free environment (seconds with uv), once
def test_pinned_sklearn_run_without_torch_passes_the_shipped_tier(notorch_python, tmp_path):
    no_torch = subprocess.run(
        [str(notorch_python), "-c", "import torch"], capture_output=True, text=True
    )
    assert no_torch.returncode != 0 and "No module named 'torch'" in no_torch.stderr
    _delta(tmp_path / "train", framework_trainers.make_rows(600, 1))
    _delta(tmp_path / "eval", framework_trainers.make_rows(300, 2))
    repo = _team_repo(tmp_path / "repo", SKLEARN_RUN)
    out = tmp_path / "runs" / "logreg.json"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    args = [str(out), str(tmp_path / "train"), str(tmp_path / "eval"), str(repo)]
    captured = subprocess.run(
        [str(notorch_python), str(repo / "job.py"), *args],
        cwd=repo,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert captured.returncode == 0, captured.stderr  # capture(tier="shipped") did not refuse it
    check = subprocess.run(
        [str(notorch_python), "-m", "reprodiag", "check", "--tier", "shipped", "--json", str(out)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert check.returncode == 0, check.stdout + check.stderr
    report = json.loads(check.stdout)
    assert report["passed"] is True and report["manifests"][0]["violations"] == []
    # the pass says what it did not check: the torch facts, which do not apply to this run
    assert {"environment.torch_version", "randomness.torch_seed"} <= set(
        report["manifests"][0]["not_applicable"]
    )

    manifest = load_manifest(out)
    facts = dict(iter_facts(manifest))
    for path in (
        "environment.torch_version",
        "environment.threads",
        "environment.cpu_capability",
        "randomness.torch_seed",
        "randomness.deterministic_algorithms",
        "randomness.dataloader_seeding",
    ):
        fact = facts[path]
        assert isinstance(fact, Skipped) and fact.kind == "not_applicable", (path, fact)
        assert "torch is not installed" in fact.reason
    learn = manifest.environment.frameworks["scikit-learn"]
    version = subprocess.run(
        [str(notorch_python), "-c", "import sklearn; print(sklearn.__version__)"],
        capture_output=True,
        text=True,
    ).stdout.strip()
    assert learn["version"] == version
    assert "model.n_jobs" in learn  # the estimator's thread setting, from log_estimator
    assert manifest.randomness.library_seeding["model.random_state"] == "1234"
    assert (manifest.randomness.python_seed, manifest.randomness.numpy_seed) == (1234, 1234)
    assert manifest.results.metrics["log_loss"].direction == "lower"  # inferred from the name
    assert manifest.results.metrics["auc"].direction == "higher"

    # The same manifest diagnosed against itself: no axis is left "cannot be ruled out".
    from reprodiag.diagnosis.engine import diagnose

    d = diagnose(manifest, manifest)
    ranks = {r.axis: r for r in d.ranking}
    assert ranks["randomness"].status == "ruled_out", ranks["randomness"].reason
    env_axis = next(a for a in d.diff.axes if a.axis == "environment")
    holes = [f.path for f in env_axis.fields if f.status == "unversioned"]
    # only the container image, which no process can see unless the job spec states it
    assert holes in ([], ["environment.container_image"]), holes
    assert "torch" not in ranks["environment"].reason, ranks["environment"].reason


@pytest.mark.slow  # about 55 s on a 2-core machine: a dozen worker starts
def test_lightgbm_retrains_confirm_a_data_change(tmp_path):
    """`compare --retrain` with a LightGBM trainer: the relabelled data explains the gap."""
    import reprodiag
    from reprodiag.retrain.interface import TrainContext
    from reprodiag.snapshots import open_snapshot

    job = Path(framework_trainers.__file__).read_text()
    repo = _team_repo(tmp_path / "repo", job)
    rows = framework_trainers.make_rows(1500, 5)
    _delta(tmp_path / "train", framework_trainers.flip_labels(rows, 0.05, 6))  # v0
    _delta(tmp_path / "train", framework_trainers.flip_labels(rows, 0.30, 7), "overwrite")  # v1
    _delta(tmp_path / "eval", framework_trainers.make_rows(1000, 8))
    evaluation = open_snapshot(str(tmp_path / "eval"))

    def original(name: str, version: int, seed: int) -> Path:
        data = open_snapshot(str(tmp_path / "train"), version=version)
        path = tmp_path / "runs" / f"{name}.json"
        with reprodiag.capture(
            path,
            train=data,
            eval=evaluation,
            seeds=reprodiag.deterministic_seeds(seed),
            params={},
            family="churn-gbm",
            experiment="frameworks",
            run_name=name,
            entrypoint="job:boosted",
            code_root=repo,
        ) as run:
            run.log_metrics(
                framework_trainers.boosted(TrainContext({}, seed, data, evaluation)),
                primary="auc",
            )
        return path

    baseline, candidate = original("monday", 0, 1), original("wednesday", 1, 2)
    assert load_manifest(candidate).environment.frameworks["lightgbm"]["version"]
    out = tmp_path / "report"
    argv = [sys.executable, "-m", "reprodiag", "compare", str(baseline), str(candidate)]
    argv += ["--retrain", "--trainer", "job:boosted", "--max-retrains", "12", "--out", str(out)]
    argv += ["--band-store", str(tmp_path / "band-store"), "--device", "cpu"]
    proc = subprocess.run(argv, cwd=repo, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    d = load_diagnosis(out / "diagnosis.json")
    ranks = {r.axis: r for r in d.ranking}
    assert ranks["data"].status == "confirmed", ranks["data"].reason
    pinned = next(c for c in d.checks if c.key == "pinned_snapshot")
    assert pinned.verdict == "explains", pinned.observed
    assert d.conclusion is not None and d.conclusion.kind == "explained", d.conclusion
    p = d.provenance  # how it was made, for whoever reads the report later
    assert p is not None and (p.trainer, p.budget, p.executor) == ("job:boosted", 12, "serial")
    # every seed retrained: the band's and each check's (the seed replay's is the baseline's, 1)
    retrained = {s.seed for s in d.band.seeds} | {r.seed for c in d.checks for r in c.runs}
    assert p.seeds and set(p.seeds) == retrained and 1 in retrained


@pytest.mark.parametrize(
    ("name", "direction"),
    [
        ("log_loss", "lower"),
        ("val_loss", "lower"),
        ("mlogloss", "lower"),
        ("test_rmse", "lower"),
        ("MAE", "lower"),
        ("perplexity", "lower"),
        ("error_rate", "lower"),
        ("mean_squared_error", "lower"),
        ("neg_log_loss", "higher"),  # scikit-learn's negated scorers: higher is better
        ("auc", "higher"),
        ("accuracy", "higher"),
        ("f1", "higher"),
    ],
)
def test_metric_direction_is_inferred_from_the_name(name: str, direction: str) -> None:
    from reprodiag.probes.run import infer_direction

    assert infer_direction(name) == direction


def test_a_seed_param_is_randomness_not_intent(tmp_path: Path) -> None:
    """Two runs that differ only in a logged `seed` hyperparameter: randomness differs (named by
    the seed), intent is the same."""
    from reprodiag.diagnosis.engine import diagnose
    from tests.helpers.manifests import example_manifest

    def with_seed(seed: int, run_id: str):
        m = example_manifest(run_id=run_id)
        return replace(m, intent=replace(m.intent, params={**m.intent.params, "seed": seed}))

    d = diagnose(with_seed(1, "a"), with_seed(2, "b"))
    axes = {a.axis: a for a in d.diff.axes}
    assert axes["intent"].status == "same"
    seed_row = next(f for f in axes["randomness"].fields if f.path == "intent.params.seed")
    assert seed_row.status == "differs" and axes["randomness"].status == "differs"
    reason = next(r.reason for r in d.ranking if r.axis == "randomness")
    assert "hyperparameter seed differs: 1 vs 2" in reason, reason
