"""A fully captured example manifest, for the tests and the fixture manifests.

`example_manifest()` returns a manifest with every fact known (a pinned Delta snapshot, a clean git
commit, a CPU torch environment, all four seeds); callers replace what their scenario changes with
`dataclasses.replace`. The values are plausible, not captured from this machine.

Kept out of the wheel on purpose (it was reprodiag/manifest/factory.py): the shipped package never
builds an example manifest (`reprodiag demo` captures real runs), and its made-up values are no
public API to keep stable for users' tests, who capture their own runs. Its only users outside
tests/ are checkout-only: fixtures/make_fixtures.py, run with the repository root on sys.path.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from typing import Any

from reprodiag.manifest.model import (
    CodeAxis,
    DataAxis,
    EnvironmentAxis,
    IntentAxis,
    LockRef,
    Manifest,
    Metric,
    RandomnessAxis,
    Results,
    RunInfo,
    Skipped,
    SnapshotRef,
)

NOT_APPLICABLE_CPU = Skipped("no NVIDIA driver: NVML library not found")


def example_snapshot(
    version: int = 3, uri: str = "/data/events", table: str = "events"
) -> SnapshotRef:
    digest = hashlib.sha256(f"{table}@{version}".encode()).hexdigest()
    table_digest = hashlib.sha256(table.encode()).hexdigest()
    return SnapshotRef(
        format="delta",
        uri=uri,
        version=version,
        table_id=f"{table_digest[:8]}-{table_digest[8:12]}-4{table_digest[13:16]}"
        f"-8{table_digest[17:20]}-{table_digest[20:32]}",
        fingerprint=f"sha256:{digest}",
    )


def example_manifest(
    seed: int = 1234, auc: float = 80.0, run_id: str = "run-a", **axes: Any
) -> Manifest:
    """A complete manifest; keyword arguments (data=..., code=...) replace whole axes."""
    manifest = Manifest(
        run=RunInfo(
            run_id=run_id,
            created_at="2026-11-23T09:00:00+00:00",
            output_dir=f"/runs/{run_id}",
            reprodiag_version="0.1.0",
            captured_by="fixture",
        ),
        data=DataAxis(train=example_snapshot(3), eval=example_snapshot(0, "/data/eval", "eval")),
        code=CodeAxis(
            commit="4f1c2e9a7b3d5c6e8f90a1b2c3d4e5f6a7b8c9d0",
            branch="main",
            remote="https://git.example.com/ml/ctr.git",
            dirty=False,
            diff_sha256="sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            entrypoint="reprodiag.family.mlp:train",
            lock=LockRef(kind="uv.lock", path="uv.lock", sha256="sha256:" + "ab" * 32),
        ),
        environment=EnvironmentAxis(
            python="CPython 3.11.7",
            os="Debian GNU/Linux 12 (bookworm)",
            kernel="6.1.0-18-amd64",
            cpu_model="Intel(R) Xeon(R) Platinum 8375C CPU @ 2.90GHz",
            cpu_capability="AVX512",
            threads=8,
            torch_version="2.13.0+cpu",
            torch_build="cpu",
            cuda=Skipped("CPU build of torch"),
            cudnn=Skipped("CPU build of torch"),
            nccl=Skipped("CPU build of torch"),
            gpu_name=NOT_APPLICABLE_CPU,
            gpu_count=NOT_APPLICABLE_CPU,
            gpu_uuids=NOT_APPLICABLE_CPU,
            driver=NOT_APPLICABLE_CPU,
            cuda_driver=NOT_APPLICABLE_CPU,
            tf32_matmul=False,
            tf32_cudnn=True,
            matmul_precision="highest",
            container_image="registry.example.com/ml/train@sha256:" + "cd" * 32,
            hostname="trainer-1",
            libraries={"numpy": "2.4.6", "torch": "2.13.0+cpu"},
        ),
        randomness=RandomnessAxis(
            python_seed=seed,
            numpy_seed=seed,
            torch_seed=seed,
            cuda_seed=seed,
            derivation=f"all generators seeded with base {seed} by reprodiag.deterministic_seeds",
            deterministic_algorithms=True,
            warn_only=False,
            cudnn_deterministic=True,
            cudnn_benchmark=False,
            cublas_workspace_config=":4096:8",
            pythonhashseed=str(seed),
            fill_uninitialized_memory=True,
            dataloader_seeding="seed_worker + generator",
        ),
        intent=IntentAxis(
            family="ctr-mlp",
            experiment="ctr-weekly",
            run_name=run_id,
            hypothesis="weekly retrain on fresh events",
            params={"lr": 0.001, "epochs": 8},
            ablations={},
            tier="shipped",
            tags={"team": "ranking"},
            owner="ml-oncall",
        ),
        results=Results(
            metrics={"auc": Metric(auc, "higher")},
            status="finished",
            started_at="2026-11-23T09:00:00+00:00",
            finished_at="2026-11-23T09:05:00+00:00",
        ),
    )
    return replace(manifest, **axes) if axes else manifest
