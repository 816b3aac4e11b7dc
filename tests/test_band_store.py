"""The band store on real Delta tables, and the family fingerprint on example manifests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import DeltaTable, write_deltalake
from deltalake.exceptions import CommitFailedError

from reprodiag.errors import InputError, ReprodiagError
from reprodiag.noise.fingerprint import family_fingerprint, fingerprint_facts
from reprodiag.noise.store import (
    BAND_SEED_BASE,
    STORE_FORMAT,
    BandStore,
    band_schema,
    commit_with_retries,
)
from reprodiag.retrain.seed_result import SeedResult
from tests.helpers.manifests import example_manifest, example_snapshot

REPO = Path(__file__).resolve().parents[1]
FAMILY = "sha256:" + "f" * 64


def ok(seed: int, value: float | None = None) -> SeedResult:
    return SeedResult(
        seed=seed, metric=0.5 + seed / 1e5 if value is None else value, status="ok", seconds=1.5
    )


# -- family fingerprint ------------------------------------------------------------------------


@pytest.mark.parametrize("lightning_seed", [{}, {"PL_GLOBAL_SEED": "1234"}])
def test_fingerprint_ignores_seeds_ids_times_and_hostnames(lightning_seed: dict[str, str]) -> None:
    a = example_manifest(seed=1234, auc=80.0, run_id="run-a")
    a = replace(a, randomness=replace(a.randomness, library_seeding=lightning_seed))
    b = example_manifest(seed=7, auc=76.0, run_id="run-b")
    b = replace(
        b,
        run=replace(b.run, created_at="2027-01-01T00:00:00+00:00"),
        environment=replace(b.environment, hostname="trainer-9", gpu_uuids=("GPU-1",)),
        randomness=replace(b.randomness, library_seeding={"PL_GLOBAL_SEED": "7"}),
    )
    assert family_fingerprint(a) == family_fingerprint(b)
    assert family_fingerprint(a).startswith("sha256:") and len(family_fingerprint(a)) == 71


@pytest.mark.parametrize("change", ["lr", "data_version", "torch", "deterministic", "hash_random"])
def test_fingerprint_changes_with_what_changes_the_noise(change: str) -> None:
    a = example_manifest()
    b = {
        "lr": replace(a, intent=replace(a.intent, params={"lr": 0.002, "epochs": 8})),
        "data_version": replace(a, data=replace(a.data, train=example_snapshot(4))),
        "torch": replace(a, environment=replace(a.environment, torch_version="2.14.0+cpu")),
        "deterministic": replace(
            a, randomness=replace(a.randomness, deterministic_algorithms=False)
        ),
        "hash_random": replace(a, randomness=replace(a.randomness, pythonhashseed="random")),
    }[change]
    assert family_fingerprint(a) != family_fingerprint(b)


def test_fingerprint_facts_show_what_went_in() -> None:
    facts = fingerprint_facts(example_manifest())
    assert facts["randomness.cudnn_benchmark"] is False
    assert facts["randomness.pythonhashseed"] == "fixed"
    assert facts["environment.cuda"] == {"skipped": True}
    assert facts["intent.params.lr"] == 0.001
    for left_out in (
        "randomness.torch_seed",
        "randomness.derivation",
        "environment.hostname",
        "intent.run_name",
        "run.run_id",
        "results.metrics.auc.value",
        "schema",
        "environment.gpu_uuids",
    ):
        assert left_out not in facts


# -- recording and reading ---------------------------------------------------------------------


def test_missing_store_reads_empty_and_is_created_with_parents(tmp_path: Path) -> None:
    store = BandStore(tmp_path / "deep" / "bands")
    assert store.results(FAMILY, "auc") == []
    assert store.next_seeds(FAMILY, "auc", 3) == [
        BAND_SEED_BASE,
        BAND_SEED_BASE + 1,
        BAND_SEED_BASE + 2,
    ]
    store.record(FAMILY, "auc", ok(BAND_SEED_BASE), run_id="r1", manifest_path="/m.json")
    table = DeltaTable(tmp_path / "deep" / "bands")
    assert table.schema().to_arrow() == band_schema()
    assert table.to_pyarrow_table()["store_format"].to_pylist() == [STORE_FORMAT]


def test_one_commit_per_seed_and_results_sorted(tmp_path: Path) -> None:
    store = BandStore(str(tmp_path / "bands"))
    for seed in (10_002, 10_000, 10_001):
        store.record(FAMILY, "auc", ok(seed), run_id="r1")
    store.record(FAMILY, "loss", ok(10_000, 0.3), run_id="r1")
    store.record("sha256:other", "auc", ok(10_005), run_id="r1")
    assert DeltaTable(tmp_path / "bands").version() == 4  # versions 0..4: five commits
    got = store.results(FAMILY, "auc")
    assert [r.seed for r in got] == [10_000, 10_001, 10_002]
    assert got[0] == ok(10_000)
    assert store.ok_values(FAMILY, "loss") == [0.3]


def test_duplicates_count_once_and_failures_are_retried(tmp_path: Path) -> None:
    store = BandStore(tmp_path / "bands")
    store.record(FAMILY, "auc", SeedResult(10_000, None, "failed", "CUDA OOM"), run_id="a")
    store.record(FAMILY, "auc", ok(10_000, 0.71), run_id="b")
    store.record(FAMILY, "auc", ok(10_000, 0.99), run_id="c")  # a second run of the same seed
    store.record(FAMILY, "auc", SeedResult(10_001, None, "failed", "diverged"), run_id="a")
    store.record(FAMILY, "auc", SeedResult(10_001, None, "failed", "diverged again"), run_id="b")
    got = store.results(FAMILY, "auc")
    assert got[0] == SeedResult(10_000, 0.71, "ok", seconds=1.5)
    assert got[1] == SeedResult(10_001, None, "failed", "diverged again")
    assert store.ok_values(FAMILY, "auc") == [0.71]
    assert store.done_seeds(FAMILY, "auc") == {10_000}
    assert store.next_seeds(FAMILY, "auc", 2) == [10_001, 10_002]
    assert store.next_seeds(FAMILY, "auc", 2, exclude=[10_001]) == [10_002, 10_003]
    assert store.next_seeds(FAMILY, "auc", 1, start=5) == [10_005]
    assert store.next_seeds(FAMILY, "auc", 0) == []


def test_bad_results_are_refused(tmp_path: Path) -> None:
    store = BandStore(tmp_path / "bands")
    with pytest.raises(ValueError, match="finite metric"):
        store.record(FAMILY, "auc", SeedResult(1, float("nan"), "ok"), run_id="r")
    with pytest.raises(ValueError, match="count"):
        store.next_seeds(FAMILY, "auc", -1)
    assert not (tmp_path / "bands").exists()


# -- formats -----------------------------------------------------------------------------------


def test_format_0_table_is_read_and_extended(tmp_path: Path) -> None:
    path = tmp_path / "old"
    old = pa.table(
        {
            "family": [FAMILY, FAMILY],
            "metric": ["auc", "auc"],
            "seed": pa.array([10_001, 10_000], pa.int64()),
            "value": pa.array([0.7, None], pa.float64()),
            "status": ["ok", "failed"],
        }
    )
    write_deltalake(path, old)
    store = BandStore(path)
    assert store.results(FAMILY, "auc") == [
        SeedResult(10_000, None, "failed"),
        SeedResult(10_001, 0.7, "ok"),
    ]
    store.record(FAMILY, "auc", ok(10_000, 0.72), run_id="new")
    assert store.ok_values(FAMILY, "auc") == [0.72, 0.7]
    assert store.next_seeds(FAMILY, "auc", 1) == [10_002]


def test_newer_format_asks_for_an_upgrade(tmp_path: Path) -> None:
    path = tmp_path / "newer"
    row = {
        "family": FAMILY,
        "metric": "auc",
        "seed": 1,
        "value": 0.5,
        "status": "ok",
        "reason": None,
        "seconds": None,
        "run_id": "r",
        "manifest_path": None,
        "recorded_at": "2030-01-01T00:00:00.000000+00:00",
        "store_format": STORE_FORMAT + 1,
    }
    write_deltalake(path, pa.Table.from_pylist([row], schema=band_schema()))
    store = BandStore(path)
    for call in (
        lambda: store.results(FAMILY, "auc"),
        lambda: store.record(FAMILY, "auc", ok(2), run_id="r"),
    ):
        with pytest.raises(InputError, match="store_format 2") as info:
            call()
        assert "upgrade reprodiag" in str(info.value)


def test_a_delta_table_that_is_not_a_band_store_is_named(tmp_path: Path) -> None:
    path = tmp_path / "events"
    write_deltalake(path, pa.table({"family": ["x"], "seed": pa.array([1], pa.int64())}))
    with pytest.raises(InputError) as info:
        BandStore(path).results(FAMILY, "auc")
    assert str(path) in str(info.value) and "metric, value, status" in str(info.value)
    (tmp_path / "file").write_text("x")
    with pytest.raises(InputError, match="is a file"):
        BandStore(tmp_path / "file").record(FAMILY, "auc", ok(1), run_id="r")


# -- commits under contention ------------------------------------------------------------------


def test_commit_conflicts_are_retried_then_reported() -> None:
    calls: list[int] = []
    pauses: list[float] = []

    def flaky() -> None:
        calls.append(1)
        if len(calls) < 3:
            raise CommitFailedError("concurrent append")

    commit_with_retries(flaky, where="/s", sleep=pauses.append)
    assert len(calls) == 3 and len(pauses) == 2 and pauses[0] < pauses[1] * 2

    def always() -> None:
        raise CommitFailedError("concurrent append")

    with pytest.raises(ReprodiagError, match="after 4 tries"):
        commit_with_retries(always, where="/s", tries=4, sleep=pauses.append)


CHILD = """
import os, sys, time
from reprodiag.retrain.seed_result import SeedResult
from reprodiag.noise.store import BandStore
path, family, first, last, go, pause = sys.argv[1:7]
store = BandStore(path)
seeds = range(int(first), int(last)) if last != "next" else store.next_seeds(family, "auc", 500)
while time.time() < float(go):
    time.sleep(0.005)
for seed in seeds:
    store.record(family, "auc", SeedResult(seed, seed / 1e5, "ok"), run_id=f"run-{os.getpid()}")
    print(seed, flush=True)
    time.sleep(float(pause))
os._exit(0)  # skip interpreter teardown: delta-rs runtime threads can abort it
"""


def child(path: Path, first: int, last: int | str, go: float, pause: float) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    args = [
        sys.executable,
        "-c",
        CHILD,
        str(path),
        FAMILY,
        str(first),
        str(last),
        str(go),
        str(pause),
    ]
    return subprocess.Popen(
        args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=REPO
    )


def test_two_processes_recording_at_once_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / "bands"
    go = time.time() + 2.0  # both start their first commit (and the table creation) together
    procs = [child(path, 0, 25, go, 0.0), child(path, 20, 45, go, 0.0)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [err for _, err in outs]
    store = BandStore(path)
    assert [r.seed for r in store.results(FAMILY, "auc")] == list(range(45))
    assert DeltaTable(path).to_pyarrow_table().num_rows == 50  # 5 overlapping seeds, stored twice


def test_a_killed_run_keeps_every_finished_seed(tmp_path: Path) -> None:
    path = tmp_path / "bands"
    proc = child(path, 0, "next", time.time(), 0.1)
    store = BandStore(path)
    deadline = time.time() + 60
    while len(store.results(FAMILY, "auc")) < 3 and time.time() < deadline:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    printed = [int(line) for line in out.split()]
    stored = store.done_seeds(FAMILY, "auc")
    assert len(printed) >= 2 and set(printed) <= stored
    assert sorted(stored) == list(range(BAND_SEED_BASE, BAND_SEED_BASE + len(stored)))
    assert store.next_seeds(FAMILY, "auc", 2) == [
        BAND_SEED_BASE + len(stored),
        BAND_SEED_BASE + len(stored) + 1,
    ]


def test_band_key_separates_seeds_trained_another_way() -> None:
    from reprodiag.noise.fingerprint import band_key

    manifest = example_manifest()
    assert band_key(manifest) == band_key(manifest, None, "auto")
    assert band_key(manifest) != family_fingerprint(manifest)  # reprodiag.band-key/v2: old rows
    keys = {
        band_key(manifest, {"entrypoint": "m:f"}),
        band_key(manifest, device="cuda:0"),
        band_key(manifest, threads=1),
        band_key(manifest, threads=2),
        band_key(manifest),
    }
    assert len(keys) == 5


def _dirty(manifest, text: str = "diff --git a/train.py b/train.py\n"):  # type: ignore[no-untyped-def]
    import hashlib

    from reprodiag.manifest.model import Patch

    data = text.encode()
    digest = f"sha256:{hashlib.sha256(data).hexdigest()}"
    code = replace(
        manifest.code,
        dirty=True,
        diff_sha256=digest,
        patch=Patch(text=text, sha256=digest, size=len(data)),
    )
    return replace(manifest, code=code)


def test_seeds_of_a_clean_tree_are_not_reused_for_the_same_commit_with_a_patch(
    tmp_path: Path,
) -> None:
    from reprodiag.noise.fingerprint import band_key

    clean = example_manifest()
    dirty = _dirty(clean)
    assert dirty.code.commit == clean.code.commit
    store = BandStore(tmp_path / "store")
    for seed in (BAND_SEED_BASE, BAND_SEED_BASE + 1, BAND_SEED_BASE + 2):
        store.record(band_key(clean), "auc", ok(seed), run_id="clean")
    assert len(store.results(band_key(clean), "auc")) == 3
    assert store.results(band_key(dirty), "auc") == []  # another pipeline: no seed reused
    assert band_key(_dirty(clean, "another change\n")) != band_key(dirty)


@pytest.mark.parametrize("change", ["commit", "lock", "numpy"])
def test_band_key_names_the_code_and_environment_identity(change: str) -> None:
    from reprodiag.manifest.model import LockRef
    from reprodiag.noise.fingerprint import band_key, pipeline_identity

    a = example_manifest()
    b = {
        "commit": replace(a, code=replace(a.code, commit="b" * 40)),
        "lock": replace(
            a, code=replace(a.code, lock=LockRef("uv.lock", "uv.lock", "sha256:" + "1" * 64))
        ),
        "numpy": replace(
            a,
            environment=replace(
                a.environment, libraries={**a.environment.libraries, "numpy": "0.0.1"}
            ),
        ),
    }[change]
    assert pipeline_identity(a) != pipeline_identity(b)
    assert band_key(a) != band_key(b)


def test_the_kept_patch_text_is_not_hashed_twice() -> None:
    facts = fingerprint_facts(_dirty(example_manifest()))
    assert "code.patch.text" not in facts and "code.patch.size" not in facts
    assert facts["code.patch.sha256"] == facts["code.diff_sha256"]


def test_a_checkpoint_every_ten_commits_and_the_store_still_verifies(tmp_path: Path) -> None:
    from reprodiag.noise.store import CHECKPOINT_EVERY, verify_store

    path = tmp_path / "bands"
    store = BandStore(str(path))
    for i in range(2 * CHECKPOINT_EVERY + 3):
        store.record("fam", "auc", SeedResult(10_000 + i, 80.0 + i, "ok", seconds=1.0), run_id="r")
    log = {p.name for p in (path / "_delta_log").iterdir()}
    assert {f"{v:020d}.checkpoint.parquet" for v in (10, 20)} <= log
    assert "_last_checkpoint" in log
    # readers start from the checkpoint and still see every seed, once
    assert BandStore(str(path)).ok_values("fam", "auc") == [80.0 + i for i in range(23)]
    check = verify_store(path)
    assert (check.problems, check.commits, check.rows) == ([], 23, 23)
