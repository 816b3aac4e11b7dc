"""`reprodiag --help` stays fast: no heavy library is imported to print it."""

from __future__ import annotations

import subprocess
import sys

HEAVY = (
    "torch",
    "deltalake",
    "pyarrow",
    "pandas",
    "pynvml",
    "ray",
    "mlflow",
    "pyiceberg",
    "dvc",
    "scipy",
    "jinja2",
    "jsonschema",
)


def test_help_imports_no_heavy_library() -> None:
    code = (
        "import sys\nfrom reprodiag.cli import main\ntry:\n    main(['--help'])\n"
        "except SystemExit:\n    pass\n"
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stdout


def test_every_command_has_help() -> None:
    for command in (
        "capture",
        "check",
        "compare",
        "demo",
        "diff",
        "import",
        "noise-band",
        "report",
        "schema",
        "validate",
    ):
        proc = subprocess.run(
            [sys.executable, "-m", "reprodiag", command, "--help"], capture_output=True, text=True
        )
        assert proc.returncode == 0 and "Usage:" in proc.stdout, (command, proc.stderr)
