"""Faults: a killed band, two bands at once, an unwritable report folder, data that is gone.

Each fault ends in a clear message and an exit code, and nothing finished is lost or counted twice.
The band store's own unit-level fault tests (format 0 read and extended, a newer store_format
refused, two writers, a killed writer) are in tests/test_band_store.py; these drive the CLI.
"""

from __future__ import annotations

import dataclasses
import errno
import glob
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import DeltaTable, write_deltalake

from reprodiag.cli import main
from reprodiag.diagnosis import diagnose
from reprodiag.errors import InputError
from reprodiag.manifest import load_manifest
from reprodiag.manifest.codec import write_manifest
from reprodiag.noise.fingerprint import band_key
from reprodiag.noise.store import STORE_FORMAT, BandStore, band_schema
from reprodiag.report import write_reports
from reprodiag.snapshots import open_snapshot
from reprodiag.snapshots.delta import DeltaProvider
from tests.helpers.manifests import example_manifest
from tests.helpers.uncommitted import delta_table, uncommitted_manifest

ROOT = Path(__file__).resolve().parents[1]  # workers import tests.helpers from here


def _table(path: Path, rows: int = 50, mode: str = "error") -> None:
    delta_table(path, rows, mode=mode)


def _manifest_on(tmp_path: Path, name: str = "m.json") -> Path:
    """A manifest whose data is a real, pinned Delta table (the fast trainer reads it); no commit
    or lock recorded: the retrains run the code of this checkout as it is."""
    return uncommitted_manifest(tmp_path, name, train_rows=50, eval_rows=20)


def _noise_band(manifest: Path, store: Path, out: Path, seeds: int = 6) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "reprodiag",
            "noise-band",
            str(manifest),
            "--seeds",
            str(seeds),
            "--trainer",
            "tests.helpers.trainers:fast",
            "--band-store",
            str(store),
            "--out",
            str(out),
            "--device",
            "cpu",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=out.parent,
    )


def _key(manifest: Path) -> str:
    """The store key of the band _noise_band() fills: its --trainer and --device are part of it."""
    return band_key(load_manifest(manifest), {"entrypoint": "tests.helpers.trainers:fast"}, "cpu")


def _printed_seeds(stdout: str) -> dict[int, float]:
    return {int(s): float(v) for s, v in re.findall(r"^\s+seed (\d+)\s+([-\d.]+)$", stdout, re.M)}


# ---- a killed band resumes -------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_a_band_killed_with_sigkill_resumes_without_loss_or_double_count(tmp_path: Path) -> None:
    manifest = _manifest_on(tmp_path)
    store_path = tmp_path / "store"
    family = _key(manifest)
    proc = _noise_band(manifest, store_path, tmp_path / "out")
    deadline = time.monotonic() + 180
    done: list[int] = []
    while time.monotonic() < deadline and proc.poll() is None:
        done = [r.seed for r in BandStore(store_path).results(family, "auc") if r.status == "ok"]
        if len(done) >= 2:
            break
        time.sleep(0.2)
    assert proc.poll() is None, f"the band ended before it could be killed: {proc.communicate()}"
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate()
    before = BandStore(store_path).results(family, "auc")
    kept = {r.seed: r.metric for r in before if r.status == "ok"}
    assert len(kept) >= 2 and set(done) <= set(kept)

    again = _noise_band(manifest, store_path, tmp_path / "out")
    stdout, stderr = again.communicate(timeout=240)
    assert again.returncode == 0, stderr
    assert "Traceback" not in stderr
    assert f"auc: 6 seed(s) ({len(kept)} reused from the band store)" in stdout
    after = BandStore(store_path).results(family, "auc")
    assert [r.status for r in after] == ["ok"] * 6
    assert len({r.seed for r in after}) == 6
    assert {r.seed: r.metric for r in after if r.seed in kept} == kept  # not rerun, not changed
    assert set(_printed_seeds(stdout)) == {r.seed for r in after}


# ---- two bands at once -----------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_two_bands_writing_one_store_at_once_lose_and_double_nothing(tmp_path: Path) -> None:
    manifest = _manifest_on(tmp_path)
    store_path = tmp_path / "store"
    (tmp_path / "o1").mkdir()
    (tmp_path / "o2").mkdir()
    procs = [_noise_band(manifest, store_path, tmp_path / f"o{i}" / "out") for i in (1, 2)]
    outputs = [p.communicate(timeout=240) for p in procs]
    for proc, (_, stderr) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, stderr
        assert "Traceback" not in stderr
    family = _key(manifest)
    results = BandStore(store_path).results(family, "auc")
    seeds = [r.seed for r in results]
    assert len(seeds) == len(set(seeds)) >= 6
    assert all(r.status == "ok" for r in results)
    stored = {r.seed: r.metric for r in results}
    for stdout, _ in outputs:
        printed = _printed_seeds(stdout)
        assert len(printed) == 6
        for seed, value in printed.items():  # every seed a process reported is in the store
            assert seed in stored and stored[seed] == pytest.approx(value, abs=1e-4)
    raw = DeltaTable(store_path).to_pyarrow_table().num_rows
    assert raw >= len(results)  # duplicates in the raw table, if any, are counted once


def test_a_newer_band_store_format_is_set_aside_through_the_cli(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    manifest = _manifest_on(tmp_path)
    store = tmp_path / "store"
    row = {
        "family": _key(manifest),
        "metric": "auc",
        "seed": 10_000,
        "value": 70.0,
        "status": "ok",
        "reason": None,
        "seconds": 1.0,
        "run_id": "r",
        "manifest_path": None,
        "recorded_at": "2030-01-01T00:00:00.000000+00:00",
        "store_format": STORE_FORMAT + 1,
    }
    write_deltalake(store, pa.Table.from_pylist([row], schema=band_schema()))
    with pytest.raises(SystemExit) as exit_:
        main(
            [
                "noise-band",
                str(manifest),
                "--seeds",
                "3",
                "--trainer",
                "tests.helpers.trainers:fast",
                "--band-store",
                str(store),
                "--out",
                str(tmp_path / "out"),
            ]
        )
    err = capsys.readouterr().err
    # The band goes on without the store (issue 16): a warning names it and the next step.
    assert exit_.value.code == 0, err
    assert f"the band store {store} was skipped" in err
    assert f"store_format {STORE_FORMAT + 1}" in err and "upgrade reprodiag" in err
    assert "Traceback" not in err
    assert DeltaTable(store).version() == 0  # nothing appended


# ---- a folder that cannot take the report ----------------------------------------------------


@pytest.fixture
def pair(tmp_path: Path) -> tuple[str, str]:
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    write_manifest(example_manifest(), a)
    write_manifest(example_manifest(seed=99, auc=76.0, run_id="run-b"), b)
    return str(a), str(b)


def _leftovers(folder: Path) -> list[str]:
    return [p for p in glob.glob(str(folder / "**" / ".*.tmp"), recursive=True)]


@pytest.mark.parametrize("blocker", ["under-a-file", "report-name-is-a-folder"])
def test_an_unwritable_report_folder_is_a_clear_error(
    blocker: str, pair: tuple[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    if blocker == "under-a-file":  # root ignores chmod; a path under a regular file still fails
        (tmp_path / "plain").write_text("not a folder")
        out = tmp_path / "plain" / "report"
    else:
        out = tmp_path / "out"
        (out / "report.html").mkdir(parents=True)
    with pytest.raises(SystemExit) as exit_:
        main(["compare", *pair, "--out", str(out), "--no-snapshot-check"])
    err = capsys.readouterr().err
    assert exit_.value.code == 3, err
    assert "Traceback" not in err and str(out) in err
    assert _leftovers(tmp_path) == []
    if blocker == "report-name-is-a-folder":
        assert not (out / "report.md").exists() or (out / "report.md").stat().st_size > 0


@pytest.mark.parametrize("failing", ["fsync", "replace", "write"])
def test_a_full_disk_leaves_no_half_written_report(
    failing: str,
    pair: tuple[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "report.html").write_text("the previous report\n")

    def full(*args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    if failing == "write":
        real = os.fdopen

        class Full:
            def __init__(self, fd: int, mode: str) -> None:
                self.handle = real(fd, mode)

            def __enter__(self) -> Full:
                return self

            def __exit__(self, *exc: object) -> None:
                self.handle.close()

            def write(self, data: bytes) -> int:
                self.handle.write(data[: len(data) // 2])
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

        def fdopen(fd: int, mode: str = "r", *args: object, **kwargs: object) -> object:
            # os is one module: reads (the manifest loader's) must still work; writes fill up
            return Full(fd, mode) if "w" in mode else real(fd, mode, *args, **kwargs)

        monkeypatch.setattr("reprodiag._atomic.os.fdopen", fdopen)
    else:
        monkeypatch.setattr(f"reprodiag._atomic.os.{failing}", full)
    with pytest.raises(SystemExit) as exit_:
        main(["compare", *pair, "--out", str(out), "--no-snapshot-check"])
    err = capsys.readouterr().err
    assert exit_.value.code == 3, err
    assert "No space left on device" in err and "Traceback" not in err
    assert _leftovers(tmp_path) == [], "a temporary file was left behind"
    assert sorted(p.name for p in out.iterdir()) == ["report.html"]
    assert (out / "report.html").read_text() == "the previous report\n"  # the old one, whole


# ---- data that is gone or too new ------------------------------------------------------------


def test_a_vacuumed_baseline_snapshot_is_named_and_its_retrain_skipped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    events = tmp_path / "events"
    _table(events)
    baseline_ref = open_snapshot(events).ref
    _table(events, 80, mode="overwrite")
    _table(tmp_path / "eval", 20)
    eval_ref = open_snapshot(tmp_path / "eval").ref
    candidate_ref = open_snapshot(events).ref
    DeltaTable(events).vacuum(retention_hours=0, enforce_retention_duration=False, dry_run=False)

    def on(ref: object, **kw: object) -> object:
        m = example_manifest(**kw)  # type: ignore[arg-type]
        return dataclasses.replace(m, data=dataclasses.replace(m.data, train=ref, eval=eval_ref))

    a, b = tmp_path / "a.json", tmp_path / "b.json"
    write_manifest(on(baseline_ref), a)  # type: ignore[arg-type]
    write_manifest(on(candidate_ref, seed=99, auc=76.0, run_id="run-b"), b)  # type: ignore[arg-type]
    result = diagnose(load_manifest(a), load_manifest(b))
    pinned = next(c for c in result.checks if c.key == "pinned_snapshot")
    assert pinned.status == "skipped"
    assert "vacuumed" in (pinned.observed or "")
    assert any(
        "vacuumed" in w
        for w in result.warnings + result.conclusion_open + tuple(r.reason for r in result.ranking)
    )
    with pytest.raises(SystemExit) as exit_:
        main(["compare", str(a), str(b), "--out", str(tmp_path / "out")])
    out = capsys.readouterr().out
    assert exit_.value.code == 0
    assert "vacuumed" in out
    assert re.search(r"Pinned-snapshot.*skipped.*vacuumed", out, re.I), out


def _bump_protocol(table: Path, commit: int) -> None:
    log = table / "_delta_log" / f"{commit:020d}.json"
    actions = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    for action in actions:
        if "protocol" in action:
            action["protocol"] = {"minReaderVersion": 99, "minWriterVersion": 99}
    if not any("protocol" in a for a in actions):
        actions.append({"protocol": {"minReaderVersion": 99, "minWriterVersion": 99}})
    log.write_text("\n".join(json.dumps(a) for a in actions) + "\n")


def test_a_table_from_a_newer_delta_protocol_is_a_clear_input_error(tmp_path: Path) -> None:
    table = tmp_path / "events"
    _table(table)
    _table(table, 10, mode="append")
    pinned = open_snapshot(table, version=1).ref
    _bump_protocol(table, 0)
    for call in (
        lambda: open_snapshot(table),
        lambda: open_snapshot(table, version=0),
        lambda: DeltaProvider().check_readable(pinned),
    ):
        with pytest.raises(InputError, match="written by a newer Delta protocol") as info:
            call()
        assert str(table) in str(info.value) and "Upgrade deltalake" in str(info.value)


def test_a_newer_protocol_on_a_later_commit_only_blocks_the_later_versions(tmp_path: Path) -> None:
    table = tmp_path / "events"
    _table(table)
    _table(table, 10, mode="append")
    _bump_protocol(table, 1)
    assert open_snapshot(table, version=0).to_arrow().num_rows == 50
    with pytest.raises(InputError, match="written by a newer Delta protocol"):
        open_snapshot(table)


def test_compare_on_a_newer_protocol_table_exits_cleanly(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    manifest = _manifest_on(tmp_path)
    _bump_protocol(tmp_path / "events", 0)
    with pytest.raises(SystemExit) as exit_:
        main(["compare", str(manifest), str(manifest), "--out", str(tmp_path / "out")])
    captured = capsys.readouterr()
    assert exit_.value.code in (0, 3), captured.err
    assert "Traceback" not in captured.err
    assert "newer Delta protocol" in captured.out + captured.err


def test_a_band_store_on_a_newer_delta_protocol_is_refused(tmp_path: Path) -> None:
    store = tmp_path / "store"
    write_deltalake(store, pa.Table.from_pylist([], schema=band_schema()))
    _bump_protocol(store, 0)
    with pytest.raises(InputError, match="newer Delta protocol"):
        BandStore(store).results("f", "auc")


def test_write_reports_failure_keeps_files_written_before_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The second file fails: the first is whole, the second absent, no temporary file left."""
    import reprodiag._atomic as atomic
    from tests.helpers.report_samples import with_band

    calls = {"n": 0}
    real = atomic.os.replace

    def second_fails(src: str, dst: str) -> None:
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError(errno.EROFS, os.strerror(errno.EROFS))
        real(src, dst)

    monkeypatch.setattr(atomic.os, "replace", second_fails)
    with pytest.raises(InputError, match="Read-only file system"):
        write_reports(with_band(), tmp_path / "out")
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert names == ["report.html"]
    assert (tmp_path / "out" / "report.html").read_text().rstrip().endswith("</html>")
