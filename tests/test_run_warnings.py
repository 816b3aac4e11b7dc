"""What `noise-band` and `compare --retrain` print as warnings after their retrains: the band
store's notes and the Ray executor's retries (compare printed neither retry, before)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from reprodiag.cli.retrain_options import run_warnings
from reprodiag.confirm import RetrainOptions
from reprodiag.noise.store import BandStore
from reprodiag.retrain.executor import SerialExecutor
from reprodiag.retrain.ray_executor import Retried


def test_store_notes_and_ray_retries_in_order(tmp_path: Path) -> None:
    store = BandStore(tmp_path / "store")
    store.notes.append("skipped 1 row of the band store: its metric was NaN")
    lost = Retried("noise-band-seed-10003", 10003, "the node running it died")
    ray_like = SimpleNamespace(retried=[lost], workers=2)  # a RayExecutor's record (no cluster)
    options = RetrainOptions(executor=ray_like, workdir=tmp_path / "w", store=store)  # type: ignore[arg-type]
    assert run_warnings(options) == [
        "skipped 1 row of the band store: its metric was NaN",
        "seed 10003 (noise-band-seed-10003) was retried on another actor: its actor was lost "
        "(the node running it died)",
    ]


def test_nothing_to_say_without_a_store_or_retries(tmp_path: Path) -> None:
    with SerialExecutor(tmp_path / "w") as executor:
        options = RetrainOptions(executor=executor, workdir=tmp_path / "w", store=None)
        assert run_warnings(options) == []
