"""The Python API in a real notebook: executed by nbclient on an IPython kernel of this venv.

The notebook diagnoses two manifests twice (the API is plain functions: a second call works like
the first), shows the diagnosis inline (its _repr_html_: the report's first screen), builds the
ranking DataFrame, and reads the diagnosis back from its JSON.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from reprodiag.manifest.codec import write_manifest
from tests.helpers.manifests import example_manifest

CELLS = [
    "import reprodiag\n"
    "baseline = reprodiag.load_manifest(BASELINE)\n"
    "candidate = reprodiag.load_manifest(CANDIDATE)",
    "first = reprodiag.diagnose(baseline, candidate)\n"
    "second = reprodiag.diagnose(baseline, candidate)\n"
    "print('same ranking:', first.ranking == second.ranking)",
    "first",
    "frame = first.to_frame()\nframe[['axis', 'status']]",
    "from pathlib import Path\n"
    "Path(OUT).write_text(second.to_json())\n"
    "again = reprodiag.load_diagnosis(OUT)\n"
    "print('read back:', again.ranking == second.ranking, len(frame))",
]


def test_the_api_in_a_notebook(tmp_path: Path) -> None:
    base = example_manifest(run_id="monday")
    lr = {**base.intent.params, "lr": 0.01}
    cand = replace(
        example_manifest(run_id="wednesday", auc=76.5), intent=replace(base.intent, params=lr)
    )
    write_manifest(base, tmp_path / "monday.json")
    write_manifest(cand, tmp_path / "wednesday.json")
    setup = (
        f"BASELINE = {str(tmp_path / 'monday.json')!r}\n"
        f"CANDIDATE = {str(tmp_path / 'wednesday.json')!r}\n"
        f"OUT = {str(tmp_path / 'diagnosis.json')!r}"
    )
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(src) for src in (setup, *CELLS)]
    NotebookClient(
        nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    outputs = [cell.outputs for cell in nb.cells]
    assert all(o.output_type != "error" for cell in outputs for o in cell), outputs
    assert outputs[2][0].text == "same ranking: True\n"
    shown = outputs[3][0].data
    html = shown["text/html"]
    assert html.startswith('<div class="reprodiag-diagnosis"')
    assert "auc (higher is better): 80 → 76.5 (3.5 worse)" in html
    assert "intent" in html and "<script" not in html
    table = outputs[4][0].data["text/html"]  # the DataFrame, as pandas shows it in a notebook
    assert "<table" in table and "axis" in table and "status" in table
    assert "intent" in table and "candidate" in table
    assert outputs[5][0].text == "read back: True 5\n"


def test_the_inline_html_escapes_what_the_user_wrote() -> None:
    import reprodiag

    hostile = "<script>alert(1)</script>"
    base = example_manifest(run_id="a")
    cand = example_manifest(run_id="b", auc=70.0)
    cand = replace(cand, intent=replace(cand.intent, run_name=hostile))
    d = reprodiag.diagnose(base, cand)
    html = d._repr_html_()
    assert "<script" not in html and "&lt;script&gt;" in html
    frame = d.to_frame()
    assert list(frame.index) == [r.rank for r in d.ranking]
    assert list(frame["axis"]) == [r.axis for r in d.ranking]
    assert frame["points"].isna().all()  # no retrain measured any axis
