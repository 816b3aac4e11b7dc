"""Issue 13, end to end: every retrain is the pipeline it claims to be.

The story from the issue, with a real git repository, a NumPy trainer of our own inside it
(tests/helpers/identity_repo.py), real Delta tables and real worker processes: a candidate is
trained from a dirty tree (an uncommitted edit that moves the metric by 5 points, half of it in an
untracked file); the user then `git stash`es the edit and runs the retrains. The retrains must run
the candidate's code as it ran (its commit with its patch, from a cached worktree), say so in
their own manifests, and enter the band store; a retrain that ran anything else (here: an executor
that ignores the spec's code folder, so the stashed, clean code runs) is refused, kept out of the
band store, and the report says why.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

import reprodiag
from reprodiag.confirm import RetrainOptions, confirm
from reprodiag.confirm.band import key_for, run_seeds
from reprodiag.confirm.consistency import contradictions
from reprodiag.manifest import load_manifest
from reprodiag.manifest.model import Patch, Skipped
from reprodiag.noise.store import BandStore
from reprodiag.probes.git import EMPTY_DIFF_SHA256
from reprodiag.retrain.executor import SerialExecutor
from reprodiag.retrain.spec import RetrainResult, RetrainSpec
from reprodiag.retrain.worktree import CodeUnavailable, pipeline_code_dir
from tests.helpers import identity_repo
from tests.helpers.git import git


@pytest.fixture(scope="module")
def story(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Baseline from the clean tree, candidate from the dirty one, then the edit stashed."""
    root = tmp_path_factory.mktemp("identity")
    repo = identity_repo.make_repository(root / "job")
    data, evaluation = identity_repo.make_tables(root)
    baseline = identity_repo.capture_run(root / "baseline.json", repo, data, evaluation, seed=1)
    identity_repo.edit_uncommitted(repo)
    candidate = identity_repo.capture_run(root / "candidate.json", repo, data, evaluation, seed=2)
    git(repo, "stash", "push", "-q", "--include-untracked")  # the user's stash, before compare
    return {"root": root, "repo": repo, "baseline": baseline, "candidate": candidate}


def _options(work: Path, executor: Any = None, **kwargs: Any) -> RetrainOptions:
    return RetrainOptions(
        executor=executor or SerialExecutor(work / "w"),
        workdir=work / "retrains",
        store=BandStore(work / "band-store"),
        device="cpu",
        **kwargs,
    )


def test_the_candidate_kept_its_patch(story: dict[str, Any]) -> None:
    baseline = load_manifest(story["baseline"])
    candidate = load_manifest(story["candidate"])
    assert baseline.code.dirty is False and baseline.code.diff_sha256 == EMPTY_DIFF_SHA256
    assert candidate.code.commit == baseline.code.commit and candidate.code.dirty is True
    assert isinstance(candidate.code.patch, Patch)
    assert "features.py" in candidate.code.patch.text  # the untracked file is in it
    scores = [m.results.metrics["score"].value for m in (baseline, candidate)]
    assert scores[1] - scores[0] > 4  # the edit moved the metric (BONUS = 5)
    assert git(story["repo"], "status", "--porcelain") == ""  # stashed: the tree is clean now


def test_a_stashed_candidate_is_retrained_with_its_patch(
    story: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(story["repo"])  # compare runs from the repository, as a user would
    candidate = load_manifest(story["candidate"])
    options = _options(tmp_path)
    try:
        results = run_seeds(candidate, "score", options, 2, [])
    finally:
        options.executor.close()
    assert [r.status for r in results] == ["ok", "ok"], [r.reason for r in results]
    clean = load_manifest(story["baseline"]).results.metrics["score"].value
    for folder in sorted((tmp_path / "retrains").glob("noise-band-seed-*")):
        retrain = load_manifest(folder / "manifest.json")
        # The retrain's own manifest says it ran the candidate's code, patch and all ...
        assert retrain.code.commit == candidate.code.commit
        assert retrain.code.diff_sha256 == candidate.code.diff_sha256 != EMPTY_DIFF_SHA256
        assert retrain.code.dirty is True
    # ... and its metric is the patched code's (5 points above the committed code's).
    assert all(r.metric is not None and r.metric - clean > 4 for r in results)
    stored = options.store.results(key_for(candidate, options), "score") if options.store else []
    assert sorted(r.seed for r in stored) == sorted(r.seed for r in results)
    # The user's repository is untouched: still clean, and the worktree lives in its git folder.
    assert git(story["repo"], "status", "--porcelain") == ""
    assert "reprodiag/worktrees" in git(story["repo"], "worktree", "list")


class IgnoresCodeFolder:
    """A real serial executor with the bug the issue found: it drops the spec's code folder, so
    the worker runs whatever code is in its current folder (the stashed, clean tree)."""

    def __init__(self, workdir: Path) -> None:
        self.inner = SerialExecutor(workdir)
        self.workers, self.threads = 1, None

    def run(
        self,
        specs: Sequence[RetrainSpec],
        on_result: Callable[[RetrainResult], None] | None = None,
        on_start: Any = None,
    ) -> list[RetrainResult]:
        stripped = [dataclasses.replace(s, code_dir=None) for s in specs]
        return self.inner.run(stripped, on_result=on_result)

    def close(self) -> None:
        self.inner.close()


def test_a_retrain_of_other_code_is_refused_and_kept_out_of_the_band_store(
    story: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(story["repo"])
    candidate = load_manifest(story["candidate"])
    baseline = load_manifest(story["baseline"])
    options = _options(tmp_path, IgnoresCodeFolder(tmp_path / "w"), max_retrains=4)
    seen: list[RetrainResult] = []
    options = dataclasses.replace(options, on_result=seen.append)
    try:
        diagnosis = confirm(baseline, candidate, reprodiag.diagnose(baseline, candidate), options)
    finally:
        options.executor.close()
    # The smoke retrain ran the clean code: refused, with the field that differs ...
    assert seen and seen[0].status == "failed"
    reason = seen[0].reason or ""
    assert reason.startswith("not the pipeline it stands for: code.diff_sha256 is sha256:e3b0c44")
    assert "code.commit" not in reason  # the commit is the same: only the patch is missing
    # ... never judged, never stored ...
    assert diagnosis.band is None or diagnosis.band.n == 0
    assert options.store is not None
    assert options.store.results(key_for(candidate, options), "score") == []
    # ... and the report says why.
    # (the trainer works: the conclusion is "retrain refused", not "trainer failed")
    assert diagnosis.conclusion is not None and diagnosis.conclusion.kind == "retrain refused"
    assert "not the pipeline it stands for" in diagnosis.conclusion.sentence
    assert diagnosis.bar is not None and "refused" in diagnosis.bar.reason
    assert contradictions(diagnosis) == []
    assert any("refused" in line and "code.diff_sha256" in line for line in diagnosis.spending)


def test_code_that_cannot_be_rebuilt_is_not_retrained(
    story: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    candidate = load_manifest(story["candidate"])
    baseline = load_manifest(story["baseline"])
    unkept = dataclasses.replace(
        candidate,
        code=dataclasses.replace(candidate.code, patch=Skipped("over the cap", "not_recorded")),
    )
    monkeypatch.chdir(story["repo"])  # stashed: the current folder is not the candidate's code
    with pytest.raises(CodeUnavailable, match="the change itself was not recorded: over the cap"):
        pipeline_code_dir(unkept.code)
    options = _options(tmp_path, max_retrains=4)
    try:
        diagnosis = confirm(baseline, unkept, reprodiag.diagnose(baseline, unkept), options)
    finally:
        options.executor.close()
    assert diagnosis.stop_reason is not None and "no retrain could run" in diagnosis.stop_reason
    assert "the change itself was not recorded" in diagnosis.stop_reason
    assert not (tmp_path / "retrains").exists()


def test_the_current_folder_serves_when_it_holds_exactly_the_recorded_code(
    story: dict[str, Any], tmp_path: Path
) -> None:
    """A clone without the commit cannot check it out; the folder that holds the code can run."""
    candidate = load_manifest(story["candidate"])
    copy = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(story["repo"]), str(copy))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    git(elsewhere, "init", "-q", "-b", "main")
    with pytest.raises(CodeUnavailable, match="is not in the repository"):
        pipeline_code_dir(candidate.code, repo=elsewhere, here=elsewhere)
    # A clone (the stash is not cloned) at the same commit with the same edit holds exactly the
    # recorded code.
    identity_repo.edit_uncommitted(copy)
    assert pipeline_code_dir(candidate.code, repo=elsewhere, here=copy) == copy


# -- the identity check itself, field by field (example manifests, no retrain) -----------------


def _spec_for(manifest: Any, tmp_path: Path, seed: int = 1234) -> RetrainSpec:
    from reprodiag.retrain.spec import spec_from_manifest

    return spec_from_manifest(
        manifest, seed=seed, label=f"noise-band-seed-{seed}", out_dir=tmp_path, metric="auc"
    )


def test_the_same_pipeline_passes(tmp_path: Path) -> None:
    from reprodiag.confirm.identity import check_identity
    from tests.helpers.manifests import example_manifest

    pipeline = example_manifest(seed=1)
    identity = check_identity(pipeline, _spec_for(pipeline, tmp_path), example_manifest(seed=1234))
    assert identity.ok and identity.reason == ""
    assert "environment.cuda" not in " ".join(identity.notes)  # only the identity fields count


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            lambda m: dataclasses.replace(m, code=dataclasses.replace(m.code, commit="b" * 40)),
            "code.commit is bbbbbbbbbbbb, the pipeline's is ",
        ),
        (
            lambda m: dataclasses.replace(
                m,
                environment=dataclasses.replace(
                    m.environment, libraries={**m.environment.libraries, "numpy": "0.0.1"}
                ),
            ),
            "environment.libraries.numpy is 0.0.1, the pipeline's is ",
        ),
        (
            lambda m: dataclasses.replace(
                m, intent=dataclasses.replace(m.intent, params={**m.intent.params, "lr": 9.0})
            ),
            "intent.params.lr is 9.0, the pipeline's is 0.001",
        ),
        (
            lambda m: dataclasses.replace(
                m, randomness=dataclasses.replace(m.randomness, torch_seed=7)
            ),
            "randomness.seed is 7, the pipeline's is 1234",
        ),
    ],
)
def test_a_field_that_differs_makes_the_retrain_invalid(
    tmp_path: Path, change: Callable[[Any], Any], expected: str
) -> None:
    from reprodiag.confirm.identity import check_identity
    from tests.helpers.manifests import example_manifest

    pipeline = example_manifest()
    identity = check_identity(pipeline, _spec_for(pipeline, tmp_path), change(pipeline))
    assert not identity.ok
    assert identity.reason.startswith(f"not the pipeline it stands for: {expected}")


def test_a_lock_that_differs_names_the_packages(tmp_path: Path) -> None:
    """A lock digest alone sends the reader to diff two freezes by hand: the reason names the
    packages (found on my own scikit-learn incident after py-spy was installed here)."""
    from reprodiag.confirm.identity import check_identity
    from reprodiag.manifest.model import LockRef
    from tests.helpers.manifests import example_manifest

    def with_lock(m: Any, sha: str, packages: dict[str, str]) -> Any:
        lock = LockRef("pip-freeze", None, sha, packages)
        return dataclasses.replace(m, code=dataclasses.replace(m.code, lock=lock))

    theirs = {"numpy": "1.26.4", "scikit-learn": "1.5.0", "six": "1.16.0"}
    pipeline = with_lock(example_manifest(), "sha256:" + "a" * 64, theirs)
    mine = {"numpy": "1.26.4", "scikit-learn": "1.5.1", "py-spy": "0.4.1"}
    here = with_lock(example_manifest(), "sha256:" + "b" * 64, mine)
    identity = check_identity(pipeline, _spec_for(pipeline, tmp_path), here)
    assert not identity.ok
    assert identity.reason == (
        "not the pipeline it stands for: code.lock.sha256 is sha256:bbbbbbbbbbbb…, the pipeline's "
        "is sha256:aaaaaaaaaaaa… (packages: py-spy 0.4.1 here, not in the pipeline's; "
        "scikit-learn 1.5.1 here, 1.5.0 in the pipeline's; six 1.16.0 in the pipeline's, not here)"
    )
    # a swapped environment is not compared, so nothing is said of its packages
    swapped = check_identity(pipeline, _spec_for(pipeline, tmp_path), here, swapped="environment")
    assert swapped.ok


def test_a_fact_that_does_not_apply_to_the_pipeline_is_no_note(tmp_path: Path) -> None:
    """A scikit-learn pipeline never imported torch; its retrain's worker did: torch's version
    is neither a mismatch nor a note (it warned "environment.torch_version is not recorded by
    the pipeline" on every such report)."""
    from reprodiag.confirm.identity import check_identity
    from tests.helpers.manifests import example_manifest

    unused = Skipped("the run did not import torch", "not_applicable")
    pipeline = example_manifest()
    pipeline = dataclasses.replace(
        pipeline, environment=dataclasses.replace(pipeline.environment, torch_version=unused)
    )
    identity = check_identity(pipeline, _spec_for(pipeline, tmp_path), example_manifest())
    assert identity.ok
    assert not [n for n in identity.notes if "torch_version" in n]


def test_the_swapped_axis_is_not_compared_and_unrecorded_fields_are_noted(
    tmp_path: Path,
) -> None:
    from reprodiag.confirm.identity import IdentityLog, check_identity, identity_warnings
    from tests.helpers.manifests import example_manifest

    pipeline = example_manifest()
    other_code = dataclasses.replace(
        pipeline, code=dataclasses.replace(pipeline.code, commit="c" * 40)
    )
    spec = _spec_for(pipeline, tmp_path)
    assert check_identity(pipeline, spec, other_code, swapped="code").ok
    assert not check_identity(pipeline, spec, other_code, swapped="environment").ok
    unrecorded = dataclasses.replace(
        pipeline,
        code=dataclasses.replace(pipeline.code, commit=Skipped("not a git repository: /x")),
    )
    identity = check_identity(unrecorded, spec, other_code)
    assert identity.ok
    assert identity.notes == (
        "code.commit is not recorded by the pipeline (not a git repository: /x)",
    )
    log = IdentityLog()
    log.add("noise-band-seed-1234", identity)
    assert identity_warnings(log) == (
        "Retrains checked against the pipeline they stand for, except: code.commit is not "
        "recorded by the pipeline (not a git repository: /x).",
    )
