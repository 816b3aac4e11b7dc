"""A band store that survives: twelve real corruptions of a real Delta band store.

Each corruption is made on disk to a store of four recorded seeds. For each: reading it either
works (skipping a malformed row with a note naming the store and the row) or is one
BandStoreError naming the store and `reprodiag band-store verify/repair`, never another exception;
a tolerant store (what the commands open) is set aside with a note instead; `verify_store` lists
the problem; `repair_store` rebuilds a store that verifies clean and keeps every readable seed.
The CLI: `band-store verify` / `repair`, and a noise band that goes on without a broken store.
"""

from __future__ import annotations

import math
import os
import random
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import write_deltalake

from reprodiag.cli import main
from reprodiag.noise.store import (
    BandStore,
    BandStoreError,
    band_schema,
    repair_store,
    verify_store,
)
from reprodiag.retrain.seed_result import SeedResult
from tests.helpers.uncommitted import uncommitted_manifest

ROOT = Path(__file__).resolve().parents[1]
FAMILY, METRIC = "fam", "auc"
SEEDS = (10000, 10001, 10002, 10003)


def _store(path: Path) -> Path:
    store = BandStore(path)
    for seed in SEEDS:
        store.record(FAMILY, METRIC, SeedResult(seed, 70.0 + seed % 10, "ok"), run_id="r")
    return path


def _log(path: Path, version: int) -> Path:
    return path / "_delta_log" / f"{version:020d}.json"


def _data_files(path: Path) -> list[Path]:
    return sorted(path.glob("*.parquet"))


def _bad_row(value: float) -> Callable[[Path], None]:
    def corrupt(path: Path) -> None:
        row = {
            "family": FAMILY,
            "metric": METRIC,
            "seed": 10004,
            "value": value,
            "status": "ok",
            "reason": None,
            "seconds": 1.0,
            "run_id": "x",
            "manifest_path": None,
            "recorded_at": "2026-01-01T00:00:00.000000+00:00",
            "store_format": 1,
        }
        write_deltalake(str(path), pa.Table.from_pylist([row], schema=band_schema()), mode="append")

    return corrupt


CORRUPTIONS: dict[str, Callable[[Path], None]] = {
    "garbage log entry": lambda p: _log(p, 2).write_bytes(random.Random(1).randbytes(300)),
    "truncated log entry": lambda p: _log(p, 2).write_bytes(_log(p, 2).read_bytes()[:40]),
    "missing log entry": lambda p: _log(p, 1).unlink(),
    "missing first log entry": lambda p: _log(p, 0).unlink(),
    "stray log entry after a gap": lambda p: shutil.copy(_log(p, 3), _log(p, 7)),
    "stray file in the log": lambda p: (p / "_delta_log" / "notes.txt").write_text("hello"),
    "empty log": lambda p: [f.unlink() for f in (p / "_delta_log").iterdir()],
    "garbage parquet": lambda p: _data_files(p)[1].write_bytes(b"PAR1" + b"\0" * 64),
    "truncated parquet": lambda p: _data_files(p)[1].write_bytes(
        _data_files(p)[1].read_bytes()[:100]
    ),
    "missing parquet": lambda p: _data_files(p)[1].unlink(),
    "NaN value row": _bad_row(math.nan),
    "inf value row": _bad_row(math.inf),
}


@pytest.mark.parametrize("name", list(CORRUPTIONS))
def test_a_corrupt_band_store_is_named_verified_and_repaired(name: str, tmp_path: Path) -> None:
    path = _store(tmp_path / "store")
    CORRUPTIONS[name](path)

    strict = BandStore(path)
    try:
        results = strict.results(FAMILY, METRIC)
    except BandStoreError as exc:
        assert str(path) in exc.message, exc.message
        assert f"band-store repair {path}" in str(exc) and "--no-band-store" in str(exc)
    else:  # readable: any malformed row was skipped, with a note naming the store and the row
        assert all(r.metric is not None and math.isfinite(r.metric) for r in results)
        if "row" in name:
            assert {r.seed for r in results} == set(SEEDS)
            assert any(str(path) in n and "seed 10004" in n for n in strict.notes), strict.notes

    tolerant = BandStore(path, tolerant=True)
    tolerant.preflight()  # never raises
    if tolerant.skipped is not None:
        assert str(path) in tolerant.skipped and "band-store verify" in tolerant.skipped
        assert tolerant.results(FAMILY, METRIC) == []
        tolerant.record(FAMILY, METRIC, SeedResult(1, 1.0, "ok"), run_id="r")  # dropped

    check = verify_store(path)
    assert check.problems, name

    repaired = repair_store(path)
    assert repaired.backup is not None and Path(repaired.backup).is_dir()
    assert verify_store(path).problems == []
    seeds = {r.seed for r in BandStore(path).results(FAMILY, METRIC)}
    lost = 1 if "parquet" in name else 0  # the one data file that cannot be read
    assert len(seeds & set(SEEDS)) == len(SEEDS) - lost, (name, seeds, repaired)
    assert 10004 not in seeds  # the malformed row stays out
    # The rebuilt store is a store: it takes new seeds.
    BandStore(path).record(FAMILY, METRIC, SeedResult(10009, 71.0, "ok"), run_id="after")
    assert 10009 in BandStore(path).done_seeds(FAMILY, METRIC)


def test_a_healthy_store_verifies_and_is_left_alone(tmp_path: Path) -> None:
    path = _store(tmp_path / "store")
    assert verify_store(path).problems == [] and verify_store(path).rows == len(SEEDS)
    assert repair_store(path).backup is None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["store"]


def test_band_store_commands(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _store(tmp_path / "store")
    with pytest.raises(SystemExit) as code:
        main(["band-store", "verify", str(path)])
    assert code.value.code == 0 and "ok (4 commits, 4 rows)" in capsys.readouterr().out
    CORRUPTIONS["garbage log entry"](path)
    with pytest.raises(SystemExit) as code:
        main(["band-store", "verify", str(path)])
    printed = capsys.readouterr()
    assert code.value.code == 3 and "not a Delta commit" in printed.out
    assert f"band-store repair {path}" in printed.err and "Traceback" not in printed.err
    with pytest.raises(SystemExit) as code:
        main(["band-store", "repair", str(path)])
    printed = capsys.readouterr()
    assert code.value.code == 0 and "rebuilt with 4 rows" in printed.out, printed
    with pytest.raises(SystemExit) as code:
        main(["band-store", "verify", str(path)])
    assert code.value.code == 0


def test_writes_are_validated(tmp_path: Path) -> None:
    store = BandStore(tmp_path / "store")
    for bad in (
        SeedResult(1, math.nan, "ok"),
        SeedResult(1, math.inf, "ok"),
        SeedResult(-1, 1.0, "ok"),
        SeedResult(2**63, 1.0, "ok"),
        SeedResult(1, 1.0, "ok", seconds=math.nan),
    ):
        with pytest.raises(ValueError):
            store.record(FAMILY, METRIC, bad, run_id="r")
    assert not (tmp_path / "store").exists()


def test_an_unwritable_store_is_found_before_any_retrain(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("a regular file where a folder should be")
    with pytest.raises(BandStoreError, match="cannot be written"):
        BandStore(tmp_path / "file" / "store").preflight()
    tolerant = BandStore(tmp_path / "file" / "store", tolerant=True)
    tolerant.preflight()
    assert tolerant.read_only and any("cannot be written" in n for n in tolerant.notes)
    tolerant.record(FAMILY, METRIC, SeedResult(1, 1.0, "ok"), run_id="r")  # not recorded


def test_noise_band_goes_on_without_a_corrupt_store(tmp_path: Path) -> None:
    uncommitted_manifest(tmp_path, "m.json", columns=("x",))
    store = _store(tmp_path / "store")
    CORRUPTIONS["garbage parquet"](store)
    proc = subprocess.run(
        [sys.executable, "-m", "reprodiag", "noise-band", "m.json", "--metric", "auc"]
        + ["--seeds", "3", "--trainer", "tests.helpers.trainers:fast"]
        + ["--band-store", str(store), "--out", "band"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"the band store {store} was skipped" in proc.stderr
    assert "auc: 3 seed(s) (0 reused from the band store)" in proc.stdout
    assert "Traceback" not in proc.stderr
