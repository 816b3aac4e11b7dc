"""Tables and the band store on S3, for real: a local S3 server (moto, tests/helpers/s3.py).

The server runs on 127.0.0.1 for this module and is stopped after it; every AWS client here is
pointed at it with dummy credentials, instance metadata off and empty config files, so nothing is
sent anywhere else. Everything else is real: Delta tables and an Iceberg table written to the
bucket, `reprodiag capture` / `compare --retrain` / `noise-band` / `band-store verify` run as
subprocesses, retrains in worker processes that read their snapshots from the bucket.
"""

from __future__ import annotations

import multiprocessing
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import pyarrow as pa
import pytest

from reprodiag.manifest import load_manifest
from reprodiag.manifest.model import SnapshotRef
from reprodiag.noise.fingerprint import band_key
from reprodiag.noise.store import BandStore, verify_store
from reprodiag.retrain.seed_result import SeedResult
from reprodiag.snapshots import reopen
from tests.helpers.s3 import LocalS3, running_s3, write_line_tables

ROOT = Path(__file__).resolve().parents[1]  # workers import tests.helpers from here
SECRET = "s3cr3t-9f1c7e-never-in-a-file"  # noqa: S105 - a dummy; any hit is a leak
TRAINER = "tests.helpers.s3_trainer:train"


@pytest.fixture(scope="module")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalS3]:
    with running_s3(tmp_path_factory.mktemp("aws"), SECRET) as server:
        yield server


def _options_args(options: Mapping[str, str]) -> list[str]:
    return [arg for k, v in options.items() for arg in ("--storage-option", f"{k}={v}")]


def _cli(
    args: Sequence[str], env: Mapping[str, str], cwd: Path, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "reprodiag", *args],
        env={**env, "PYTHONPATH": str(ROOT)},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _write_tables(s3: LocalS3, prefix: str) -> tuple[str, str]:
    """events (v0: a clean line; v1: noisy rows appended) and eval (v0) in the bucket."""
    from deltalake import write_deltalake

    options = s3.storage_options()
    events, evaluation = write_line_tables(s3, prefix)
    xs = [float(i) for i in range(60)]
    noisy = [2 * x + 1 + (15.0 if i % 2 else -15.0) for i, x in enumerate(xs)]
    write_deltalake(events, pa.table({"x": xs, "y": noisy}), mode="append", storage_options=options)
    return events, evaluation


def _capture(
    s3: LocalS3,
    out: Path,
    train: str,
    version: int,
    evaluation: str,
    auc: float,
    env: Mapping[str, str],
) -> subprocess.CompletedProcess[str]:
    return _cli(
        [
            "capture", str(out), "--train", train, "--train-version", str(version),
            "--eval", evaluation, "--eval-version", "0", "--format", "delta",
            "--seed", "1234", "--param", "lr=0.1", "--family", "s3-line",
            "--entrypoint", TRAINER, "--metric", f"auc={auc}", "--code-root", str(out.parent),
            *_options_args(s3.storage_options()),
        ],
        env,
        out.parent,
    )  # fmt: skip


def _files_holding(folder: Path, needle: str) -> list[str]:
    return [str(p) for p in folder.rglob("*") if p.is_file() and needle.encode() in p.read_bytes()]


# ---- Delta on S3: commits are conditional puts -------------------------------------------------


def test_delta_commits_to_s3_are_put_if_absent_and_the_server_refuses_a_second(
    s3: LocalS3,
) -> None:
    from botocore.exceptions import ClientError
    from deltalake import DeltaTable, write_deltalake

    uri = s3.uri("conditional/t")
    for rows in ([1, 2], [3]):
        write_deltalake(
            uri, pa.table({"a": rows}), mode="append", storage_options=s3.storage_options()
        )
    commits = [
        r for r in s3.requests if r.method == "PUT" and "/conditional/t/_delta_log/" in r.path
    ]
    assert len(commits) == 2
    # delta-rs writes each log entry with If-None-Match: * (a put-if-absent): of two writers of
    # one version, the second is refused and retries on top, instead of overwriting the first.
    assert {r.if_none_match for r in commits} == {"*"}
    key = "conditional/t/_delta_log/00000000000000000001.json"
    with pytest.raises(ClientError, match="PreconditionFailed"):
        s3.client().put_object(Bucket=s3.bucket, Key=key, Body=b"{}", IfNoneMatch="*")
    table = DeltaTable(uri, storage_options=s3.storage_options())
    assert table.version() == 1
    assert sorted(table.to_pyarrow_table()["a"].to_pylist()) == [1, 2, 3]


# ---- the band store in the bucket --------------------------------------------------------------


def _record_seeds(uri: str, options: dict[str, str], first: int, count: int, writer: str) -> None:
    store = BandStore(uri, options)
    for seed in range(first, first + count):
        result = SeedResult(seed=seed, metric=80.0 + seed / 1000, status="ok", seconds=0.1)
        store.record("fam", "auc", result, run_id=writer)


def test_band_store_on_s3_one_commit_per_seed_concurrent_writers_lose_nothing(
    s3: LocalS3, tmp_path: Path
) -> None:
    from deltalake import DeltaTable

    uri, options = s3.uri("band-unit"), s3.storage_options()
    _record_seeds(uri, options, 10_000, 3, "first")
    assert DeltaTable(uri, storage_options=options).version() == 2  # three seeds, three commits

    # Three processes append to the one store at once: every seed lands once.
    spawn = multiprocessing.get_context("spawn")
    writers = [
        spawn.Process(target=_record_seeds, args=(uri, options, 20_000 + 100 * i, 3, f"w{i}"))
        for i in range(3)
    ]
    for w in writers:
        w.start()
    for w in writers:
        w.join(timeout=120)
    assert [w.exitcode for w in writers] == [0, 0, 0]
    seeds = [r.seed for r in BandStore(uri, options).results("fam", "auc")]
    expected = [*range(10_000, 10_003)] + [20_000 + 100 * i + j for i in range(3) for j in range(3)]
    assert seeds == sorted(expected)
    assert DeltaTable(uri, storage_options=options).version() == len(expected) - 1

    check = verify_store(uri, options)
    assert (check.problems, check.commits, check.rows) == ([], len(expected), len(expected))
    shown = _cli(
        ["band-store", "verify", uri, *_options_args(options)],
        s3.isolated_env(os.environ),
        tmp_path,
    )
    assert shown.returncode == 0, shown.stderr
    assert f"ok ({len(expected)} commits, {len(expected)} rows)" in shown.stdout
    assert SECRET not in shown.stdout + shown.stderr


# ---- capture, compare --retrain and noise-band on tables in the bucket -------------------------


def test_capture_compare_retrain_and_noise_band_read_the_bucket_and_never_write_the_secret(
    s3: LocalS3, tmp_path: Path
) -> None:
    env = s3.isolated_env(os.environ)  # no AWS credentials but --storage-option
    events, evaluation = _write_tables(s3, "e2e")
    before = len(s3.requests)
    monday, wednesday = tmp_path / "monday.json", tmp_path / "wednesday.json"
    outputs = [_capture(s3, monday, events, 0, evaluation, 88.0, env)]
    outputs.append(_capture(s3, wednesday, events, 1, evaluation, 70.0, env))
    assert [p.returncode for p in outputs] == [0, 0], [p.stderr for p in outputs]
    # Pinning reads the Delta log only: no data file was fetched.
    fetched = [r.path for r in s3.requests[before:] if r.method == "GET"]
    assert fetched and not [p for p in fetched if p.endswith(".parquet")]
    refs = [load_manifest(m).data.train for m in (monday, wednesday)]
    assert [(r.uri, r.version) for r in refs if isinstance(r, SnapshotRef)] == [
        (events, 0),
        (events, 1),
    ]

    store = s3.uri("e2e/band-store")
    storage = _options_args(s3.storage_options())
    retrain = [
        "--trainer", TRAINER, "--device", "cpu", "--band-store", store, "--quiet", *storage,
    ]  # fmt: skip
    report = tmp_path / "report"
    compared = _cli(
        ["compare", str(monday), str(wednesday), "--retrain", "--max-retrains", "8",
         "--out", str(report), *retrain],
        env,
        tmp_path,
        timeout=240,
    )  # fmt: skip
    outputs.append(compared)
    assert compared.returncode == 0, compared.stderr
    assert "readable: " in (report / "diagnosis.json").read_text()  # the snapshot check reached S3
    # Each retrain read its pinned version from the bucket: v0 holds 60 rows, v1 120.
    retrains = [load_manifest(p) for p in (report / "retrains").rglob("manifest.json")]
    read = {
        (m.data.train.version, m.results.metrics["rows"].value)  # type: ignore[union-attr]
        for m in retrains
        if m.results.status == "finished"
    }
    assert read == {(0, 60.0), (1, 120.0)}, read
    assert "pinned-snapshot" in compared.stdout or "pinned snapshot" in compared.stdout

    band = _cli(
        ["noise-band", str(wednesday), "--seeds", "3", "--out", str(tmp_path / "band"), *retrain],
        env,
        tmp_path,
        timeout=240,
    )
    outputs.append(band)
    assert band.returncode == 0, band.stderr
    assert re.search(r"auc: 3 seed\(s\) \(\d+ reused from the band store\)", band.stdout)
    assert s3.keys("e2e/band-store/_delta_log/")  # the band store lives in the bucket

    # The secret reached every reader (or nothing would have opened), yet no file, no output and
    # no object in the bucket holds it.
    assert _files_holding(tmp_path, SECRET) == []
    for proc in outputs:
        assert SECRET not in proc.stdout + proc.stderr
    client = s3.client()
    for key in s3.keys("e2e/"):
        body = client.get_object(Bucket=s3.bucket, Key=key)["Body"].read()
        assert SECRET.encode() not in body, key


# ---- Iceberg with its warehouse in the bucket --------------------------------------------------


def test_an_iceberg_table_warehoused_in_s3_is_pinned_and_read_again_by_snapshot(
    s3: LocalS3, tmp_path: Path
) -> None:
    from pyiceberg.catalog.sql import SqlCatalog

    catalog_props = {
        "uri": f"sqlite:///{tmp_path / 'catalog.db'}",
        "warehouse": s3.uri("warehouse"),
        **{k: v for k, v in s3.storage_options().items() if k.startswith("s3.")},
    }
    catalog = SqlCatalog("team", **catalog_props)
    catalog.create_namespace("ml")
    table = catalog.create_table(
        "ml.events", schema=pa.schema([("x", pa.float64()), ("y", pa.float64())])
    )
    table.append(pa.table({"x": [1.0, 2.0], "y": [3.0, 5.0]}))
    options = {
        **s3.storage_options(),
        "uri": catalog_props["uri"],
        "warehouse": catalog_props["warehouse"],
    }
    out = tmp_path / "run.json"
    captured = _cli(
        ["capture", str(out), "--train", "iceberg://team/ml.events", "--metric", "auc=1",
         *_options_args(options)],
        s3.isolated_env(os.environ),
        tmp_path,
    )  # fmt: skip
    assert captured.returncode == 0, captured.stderr
    ref = load_manifest(out).data.train
    assert isinstance(ref, SnapshotRef) and ref.format == "iceberg"
    assert ref.version == table.current_snapshot().snapshot_id  # type: ignore[union-attr]
    table.append(pa.table({"x": [9.0], "y": [9.0]}))  # a later snapshot
    again = reopen(ref, options).to_arrow()
    assert sorted(again["x"].to_pylist()) == [1.0, 2.0]
    assert s3.keys("warehouse/ml/events/data/")  # the data files live in the bucket
    assert SECRET not in out.read_text() + captured.stdout + captured.stderr


# ---- credentials the standard way --------------------------------------------------------------


def test_credentials_from_the_standard_aws_variables_need_no_storage_option(
    s3: LocalS3, tmp_path: Path
) -> None:
    events, _ = _write_tables(s3, "envcreds")
    out = tmp_path / "run.json"
    captured = _cli(
        ["capture", str(out), "--train", events, "--format", "delta", "--metric", "auc=1"],
        s3.credentials_env(os.environ),
        tmp_path,
    )
    assert captured.returncode == 0, captured.stderr
    ref = load_manifest(out).data.train
    assert isinstance(ref, SnapshotRef) and (ref.uri, ref.version) == (events, 1)


def test_a_malformed_storage_option_is_a_usage_error_that_does_not_echo_it(
    s3: LocalS3, tmp_path: Path
) -> None:
    shown = _cli(
        ["capture", str(tmp_path / "m.json"), "--storage-option", "AWS_REGION=us-east-1",
         "--storage-option", SECRET],
        s3.isolated_env(os.environ),
        tmp_path,
    )  # fmt: skip
    assert shown.returncode == 2
    assert "--storage-option" in shown.stderr and "2nd" in shown.stderr
    assert SECRET not in shown.stdout + shown.stderr
    assert not (tmp_path / "m.json").exists()


# ---- a band killed with SIGKILL resumes from the bucket ----------------------------------------


@pytest.mark.slow  # 20 s on a quiet 2-core machine, 36 s under load: two noise-band runs
@pytest.mark.timeout(240)
def test_a_noise_band_killed_with_sigkill_resumes_from_the_bucket(
    s3: LocalS3, tmp_path: Path
) -> None:
    env = s3.isolated_env(os.environ)
    events, evaluation = _write_tables(s3, "killed")
    manifest = tmp_path / "run.json"
    assert _capture(s3, manifest, events, 1, evaluation, 70.0, env).returncode == 0
    store_uri, options = s3.uri("killed/band-store"), s3.storage_options()
    args = [
        "noise-band", str(manifest), "--seeds", "6", "--trainer", TRAINER, "--device", "cpu",
        "--band-store", store_uri, "--no-ensemble", *_options_args(options),
    ]  # fmt: skip
    family = band_key(load_manifest(manifest), {"entrypoint": TRAINER}, "cpu")
    proc = subprocess.Popen(
        [sys.executable, "-m", "reprodiag", *args, "--out", str(tmp_path / "out")],
        env={**env, "PYTHONPATH": str(ROOT)},
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    store = BandStore(store_uri, options)
    done: list[int] = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        done = [r.seed for r in store.results(family, "auc") if r.status == "ok"]
        if len(done) >= 2:
            break
        time.sleep(0.2)
    assert proc.poll() is None, f"the band ended before it could be killed: {proc.communicate()}"
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate()
    kept = {r.seed: r.metric for r in store.results(family, "auc") if r.status == "ok"}
    assert len(kept) >= 2 and set(done) <= set(kept)

    again = _cli([*args, "--out", str(tmp_path / "out")], env, tmp_path, timeout=180)
    assert again.returncode == 0, again.stderr
    assert f"auc: 6 seed(s) ({len(kept)} reused from the band store)" in again.stdout
    after = store.results(family, "auc")
    assert [r.status for r in after] == ["ok"] * 6 and len({r.seed for r in after}) == 6
    assert {r.seed: r.metric for r in after if r.seed in kept} == kept  # not rerun, not changed


def test_an_aws_profile_in_the_shared_credentials_file_is_used(s3: LocalS3, tmp_path: Path) -> None:
    # deltalake reads no profile itself; the CLI reads the profile's static keys for it.
    events, _ = _write_tables(s3, "profile")
    env = s3.isolated_env(os.environ)
    Path(env["AWS_SHARED_CREDENTIALS_FILE"]).write_text(
        f"[team]\naws_access_key_id = team-key\naws_secret_access_key = {SECRET}\n"
    )
    out = tmp_path / "run.json"
    endpoint = ["--storage-option", f"AWS_ENDPOINT_URL={s3.endpoint}"]
    captured = _cli(
        ["capture", str(out), "--train", events, "--format", "delta", "--metric", "auc=1",
         *endpoint, "--storage-option", "AWS_ALLOW_HTTP=true"],
        env | {"AWS_PROFILE": "team"},
        tmp_path,
    )  # fmt: skip
    assert captured.returncode == 0, captured.stderr
    ref = load_manifest(out).data.train
    assert isinstance(ref, SnapshotRef) and ref.version == 1
    assert SECRET not in out.read_text() + captured.stdout + captured.stderr
    missing = _cli(
        ["capture", str(tmp_path / "x.json"), "--train", events, "--format", "delta",
         "--storage-option", "AWS_PROFILE=nobody", *endpoint],
        env,
        tmp_path,
    )  # fmt: skip
    assert missing.returncode == 2 and "AWS profile 'nobody' has no static keys" in missing.stderr
