"""Small trainers for the warm worker's tests: ones that change their process, crash, hang, leak
or leave processes behind, and ones that report what they found.

Entrypoints are `tests.helpers.warm_trainers:<name>`; the executors run with the repository root
on PYTHONPATH. Numbers only come back as metrics, so pids and flags are floats.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

LEAKED: list[bytearray] = []  # what `leaks` keeps: it outlives the retrain in a warm worker
LEAK_MB = 256
POLLUTED_PATH = "/nonexistent/warm-test-path"


def pollutes(ctx: Any) -> Mapping[str, float]:
    """Changes everything a trainer can change in its process, then returns normally."""
    import numpy as np
    import torch

    os.environ["WARM_TEST_MARKER"] = "left by pollutes"
    os.environ["PYTHONHASHSEED"] = "7"
    os.chdir("/")
    sys.path.append(POLLUTED_PATH)
    torch.use_deterministic_algorithms(False)
    torch.set_default_dtype(torch.float64)
    torch.set_grad_enabled(False)
    np.seterr(all="raise")
    warnings.simplefilter("error")
    random.random(), np.random.rand(), torch.rand(1)  # draws: the next spec must not see them
    sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - left open on purpose
    return {"auc": 1.0, "pid": float(os.getpid())}


def inspects(ctx: Any) -> Mapping[str, float]:
    """What this process looks like to a trainer: its first draws of each generator, its flags,
    its environment, folder and path (1.0 for yes)."""
    import numpy as np
    import torch

    return {
        "auc": 1.0,
        "pid": float(os.getpid()),
        "python_draw": random.random(),
        "numpy_draw": float(np.random.rand()),
        "torch_draw": float(torch.rand(1).item()),
        "deterministic": float(torch.are_deterministic_algorithms_enabled()),
        "float32": float(torch.get_default_dtype() == torch.float32),
        "grad": float(torch.is_grad_enabled()),
        "numpy_ignores_overflow": float(np.geterr()["over"] == "warn"),
        "warnings_not_errors": float(not any(f[0] == "error" for f in warnings.filters)),
        "marker": float("WARM_TEST_MARKER" in os.environ),
        "hashseed": float(os.environ.get("PYTHONHASHSEED", "-1")),
        "cwd_is_code_dir": float(os.getcwd() == os.environ.get("WARM_TEST_CODE_DIR", "")),
        "polluted_path": float(POLLUTED_PATH in sys.path),
        "stdout_is_real": float(sys.stdout is sys.__stdout__),
    }


def reports_pid(ctx: Any) -> Mapping[str, float]:
    """The worker's pid and what `leaks` holds in it."""
    return {"auc": 1.0, "pid": float(os.getpid()), "held_mb": float(len(LEAKED) * LEAK_MB)}


def leaks(ctx: Any) -> Mapping[str, float]:
    """Keeps LEAK_MB more of memory in a module global (touched, so it is resident)."""
    block = bytearray(LEAK_MB * 2**20)
    block[::4096] = b"x" * len(block[::4096])
    LEAKED.append(block)
    return reports_pid(ctx)


def exits(ctx: Any) -> Mapping[str, float]:
    """Ends its process at once (as a native crash or os._exit in a library would)."""
    print("about to exit hard", flush=True)
    os._exit(3)


def raises(ctx: Any) -> Mapping[str, float]:
    """An ordinary training error."""
    raise RuntimeError("the warm trainer failed on purpose")


def interrupts(ctx: Any) -> Mapping[str, float]:
    """Raises KeyboardInterrupt from inside training (no terminal sent it)."""
    raise KeyboardInterrupt


def _grandchild(marker: str) -> None:
    """A process in its own session whose parent exits at once: only a subreaper keeps it in the
    worker's tree. Its argv carries `marker`, so a test can find it."""
    code = (
        "import subprocess, sys; "
        "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(300)', sys.argv[1]], "
        "start_new_session=True)"
    )
    subprocess.run([sys.executable, "-c", code, marker], check=True)


def hangs(ctx: Any) -> Mapping[str, float]:
    """Leaves a `setsid` grandchild (argv marker from params["marker"]) and never returns."""
    _grandchild(str(ctx.params["marker"]))
    time.sleep(300)
    return {"auc": 1.0}


def leaves_a_thread(ctx: Any) -> Mapping[str, float]:
    """Returns while a non-daemon thread it started still runs."""
    threading.Thread(target=time.sleep, args=(300,), name="left-behind").start()
    return {"auc": 1.0, "pid": float(os.getpid())}


def slow(ctx: Any) -> Mapping[str, float]:
    """For the kill tests: leaves a marked `setsid` grandchild, says it started (a file in
    WARM_TEST_STARTED), then trains for minutes."""
    marker = os.environ["WARM_TEST_MARKER_ARG"]
    _grandchild(marker)
    folder = Path(os.environ["WARM_TEST_STARTED"])
    (folder / f"seed-{ctx.seed}").write_text(str(os.getpid()), encoding="utf-8")
    time.sleep(300)
    return {"auc": 1.0}
