"""Retrains across a multi-node Ray cluster, for real: two `ray start` nodes on this machine.

The module starts moto's S3 server on 127.0.0.1 (tests/helpers/s3.py) and a Ray cluster of two
nodes, each a separate `ray start` with one CPU, a custom resource named after it and a loopback
address of its own (tests/helpers/ray_cluster.py). The head node starts without any AWS
credentials; node_b starts with the standard AWS variables for the local server. Workers read
their snapshots from the bucket (the trainer refuses anything else) and the band store lives
there too. Everything is real: `ray start`, the Ray executor, the CLI as a subprocess, the warm
workers, deltalake on the S3 API. The cluster is ended process by process at the end, and the
module checks that no process of it is left.
"""

from __future__ import annotations

import collections
import os
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from reprodiag.manifest import load_manifest
from reprodiag.manifest.model import SnapshotRef
from tests.helpers.ray_cluster import LocalRayCluster
from tests.helpers.s3 import LocalS3, running_s3, write_line_tables

pytest.importorskip("ray")

ROOT = Path(__file__).resolve().parents[1]  # workers import tests.helpers from here
SECRET = "s3cr3t-ray-5d21c9-never-in-a-file"  # noqa: S105 - a dummy; any hit is a leak
TRAINER = "tests.helpers.ray_cluster:train"


@pytest.fixture(scope="module")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalS3]:
    with running_s3(tmp_path_factory.mktemp("aws"), SECRET) as server:
        yield server


@pytest.fixture(scope="module")
def cluster(s3: LocalS3) -> Iterator[LocalRayCluster]:
    base = s3.isolated_env(os.environ) | {"PYTHONPATH": str(ROOT)}
    nodes = LocalRayCluster(
        env=base,
        names=("head", "node_b"),
        node_env={"node_b": s3.credentials_env(base)},  # only node_b has credentials of its own
    )
    nodes.start()
    try:
        yield nodes
    finally:
        nodes.stop()
        assert nodes.processes() == []  # nothing of the cluster is left
        assert not any(node.temp_dir.exists() for node in nodes.nodes)


@pytest.fixture(scope="module")
def tables(s3: LocalS3) -> tuple[str, str]:
    """A training table (60 rows of a line) and an evaluation table in the bucket."""
    return write_line_tables(s3, "cluster")


def _options_args(options: Mapping[str, str]) -> list[str]:
    return [arg for k, v in options.items() for arg in ("--storage-option", f"{k}={v}")]


def _capture(s3: LocalS3, tables: tuple[str, str], folder: Path, marks: Path) -> Path:
    """A manifest of the pipeline on the bucket's tables; its params name the marks folder."""
    out = folder / "run.json"
    done = subprocess.run(
        [
            sys.executable, "-m", "reprodiag", "capture", str(out), "--train", tables[0],
            "--eval", tables[1], "--format", "delta", "--seed", "1234", "--param",
            f"marks={marks}", "--family", "ray-line", "--entrypoint", TRAINER,
            "--metric", "auc=80", "--code-root", str(folder), *_options_args(s3.storage_options()),
        ],
        env=s3.isolated_env(os.environ) | {"PYTHONPATH": str(ROOT)},
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return out


def _marks(folder: Path, kind: str) -> dict[int, list[str]]:
    """seed -> the nodes that left a `NODE-KIND-SEED` marker for it."""
    found: dict[int, list[str]] = collections.defaultdict(list)
    for path in folder.glob(f"*-{kind}-*"):
        node, _, seed = path.name.rpartition(f"-{kind}-")
        found[int(seed)].append(node)
    return dict(found)


def test_work_placed_on_a_chosen_node_reads_the_bucket_with_that_nodes_credentials(
    s3: LocalS3,
    tables: tuple[str, str],
    cluster: LocalRayCluster,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import ray

    from reprodiag.retrain.ray_executor import RayExecutor
    from reprodiag.retrain.spec import spec_from_manifest

    marks = tmp_path / "marks"
    marks.mkdir()
    manifest = load_manifest(_capture(s3, tables, tmp_path, marks))
    specs = [
        spec_from_manifest(
            manifest,
            seed=seed,
            label=f"placed-{seed}",
            out_dir=tmp_path / f"placed-{seed}",
            metric="auc",
            trainer={"entrypoint": TRAINER},
            device="cpu",
        )
        for seed in (11, 12)
    ]
    # RAY_ADDRESS names the cluster (no address argument); no storage options: the workers read
    # the bucket with the AWS variables node_b was started with.
    monkeypatch.setenv("RAY_ADDRESS", cluster.address)
    monkeypatch.chdir(tmp_path)
    assert not ray.is_initialized()
    # A relative workdir is this process's (the actors' own folder is where `ray start` ran).
    executor = RayExecutor("placed-work", resources={"node_b": 1})
    try:
        assert executor.address == cluster.address
        results = executor.run(specs)
        assert not executor.started_ray
        nodes = {n["NodeManagerAddress"] for n in ray.nodes() if n["Alive"]}
        assert nodes == {"127.0.0.2", "127.0.0.3"}  # loopback addresses only
    finally:
        executor.close()
        ray.shutdown()
    assert [(r.status, r.reason) for r in results] == [("ok", None), ("ok", None)]
    assert _marks(marks, "done") == {11: ["node_b"], 12: ["node_b"]}
    assert len(list((tmp_path / "placed-work").glob("*.result.json"))) == 2
    assert not (ROOT / "placed-work").exists()
    for result in results:
        assert result.metrics["rows"] == 60.0  # the rows it read from the bucket
        assert result.manifest_path is not None
        ref = load_manifest(result.manifest_path).data.train
        assert isinstance(ref, SnapshotRef) and ref.uri == tables[0]


@pytest.mark.timeout(240)
def test_a_noise_band_across_two_nodes_loses_only_the_killed_nodes_seed_and_retries_it(
    s3: LocalS3, tables: tuple[str, str], cluster: LocalRayCluster, tmp_path: Path
) -> None:
    from deltalake import DeltaTable

    from reprodiag.noise.store import verify_store

    marks = tmp_path / "marks"
    marks.mkdir()
    manifest = _capture(s3, tables, tmp_path, marks)
    # node_b's second seed waits to be killed; the head's seeds after its first wait until
    # node_b has finished one, so the band surely runs on both nodes.
    (marks / "hold-node_b").write_text("")
    (marks / "wait-for-node_b").write_text("")
    store, options = s3.uri("cluster/band-store"), s3.storage_options()
    started = time.monotonic()
    band = subprocess.Popen(
        [
            sys.executable, "-m", "reprodiag", "noise-band", str(manifest), "--seeds", "6",
            "--executor", "ray", "--address", cluster.address, "--trainer", TRAINER,
            "--device", "cpu", "--band-store", store, "--no-ensemble", "--out",
            str(tmp_path / "band"), *_options_args(options),
        ],
        env=s3.isolated_env(os.environ) | {"PYTHONPATH": str(ROOT)},  # no AWS credentials
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while not list(marks.glob("held-*")) and band.poll() is None:
            assert time.monotonic() < deadline, "node_b never held a seed"
            time.sleep(0.1)
        assert band.poll() is None, band.communicate()
        held = int(next(marks.glob("held-*")).name.removeprefix("held-"))
        cluster.kill_node("node_b")  # its raylet, agents, actor and warm worker: SIGKILL
        assert cluster.processes("node_b") == []
        out, err = band.communicate(timeout=120)
    finally:
        if band.poll() is None:
            band.kill()
            band.communicate()
    seconds = time.monotonic() - started
    assert band.returncode == 0, err

    # Every seed is in the band store exactly once, the held one among them.
    rows = DeltaTable(store, storage_options=options).to_pyarrow_table()
    counts = collections.Counter(rows["seed"].to_pylist())
    assert len(counts) == 6 and set(counts.values()) == {1}, counts
    assert held in counts and set(rows["status"].to_pylist()) == {"ok"}
    check = verify_store(store, options)
    assert (check.problems, check.rows) == ([], 6)
    # Only the held seed started twice: once on node_b (lost), then on the head.
    starts = _marks(marks, "start")
    assert {seed: sorted(n) for seed, n in starts.items() if len(n) > 1} == {
        held: ["head", "node_b"]
    }
    done = _marks(marks, "done")
    assert sorted(done) == sorted(counts) and done[held] == ["head"]
    assert "node_b" in {n for nodes in done.values() for n in nodes}  # both nodes did work
    assert "head" in {n for nodes in done.values() for n in nodes}
    # The CLI says which seed was retried, and why.
    assert "auc: 6 seed(s) (0 reused from the band store)" in out
    assert f"warning: seed {held} (noise-band-seed-{held}) was retried on another actor" in err
    # The secret travelled to the workers (the head has no other credentials) yet is in no
    # output, no file of the run and no file Ray wrote.
    assert SECRET not in out + err
    assert [
        p for p in tmp_path.rglob("*") if p.is_file() and SECRET.encode() in p.read_bytes()
    ] == []
    assert cluster.files_holding(SECRET) == []
    print(f"band of 6 seeds over two nodes, one killed: {seconds:.1f} s")
