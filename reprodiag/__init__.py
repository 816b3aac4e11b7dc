"""reprodiag: reproducibility post-mortems for ML training runs.

The public API is loaded lazily so `import reprodiag` (and `reprodiag --help`) stays fast:
torch, deltalake and pynvml are imported only by the functions that need them.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "capture",
    "Run",
    "Intent",
    "deterministic_seeds",
    "seed_worker",
    "dataloader_generator",
    "Seeds",
    "load_manifest",
    "write_manifest",
    "open_snapshot",
    "diagnose",
    "load_diagnosis",
]

_LAZY = {
    "capture": "reprodiag.probes.run",
    "Run": "reprodiag.probes.run",
    "Intent": "reprodiag.probes.session",
    "deterministic_seeds": "reprodiag.probes.seeds",
    "seed_worker": "reprodiag.probes.seeds",
    "dataloader_generator": "reprodiag.probes.seeds",
    "Seeds": "reprodiag.probes.seeds",
    "load_manifest": "reprodiag.manifest.load",
    "write_manifest": "reprodiag.manifest.codec",
    "open_snapshot": "reprodiag.snapshots",
    "diagnose": "reprodiag.diagnosis.engine",
    "load_diagnosis": "reprodiag.diagnosis.codec",
}


# Any: the lazily imported attribute is a function or class of any signature (PEP 562).
def __getattr__(name: str) -> Any:
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module 'reprodiag' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module_name), name)
