"""Diffs of content (issue 13): what changed inside the code, the environment and the data.

Real components throughout: a Delta table written version by version, a git repository with an
uncommitted patch probed by capture's own code probe, an Iceberg table in a SQLite catalog, and
the report renderers and `reprodiag diff` on what they produce. A few seconds in all.
"""

from __future__ import annotations

import dataclasses
import json
from html.parser import HTMLParser
from pathlib import Path

import pytest
from click.testing import CliRunner

from reprodiag.cli.diff import diff
from reprodiag.diagnosis import diagnose, diagnosis_from_json, diagnosis_to_json
from reprodiag.diagnosis.content import (
    ContentOptions,
    content_diff,
    content_lines,
    lock_diff,
    table_content,
)
from reprodiag.manifest import write_manifest
from reprodiag.manifest.model import DataAxis, LockRef, Manifest, Skipped, SnapshotRef
from reprodiag.probes.git import probe_code
from reprodiag.report import renderer_for
from reprodiag.snapshots import open_snapshot
from tests.helpers.content_tables import RELABELLED, versioned_table
from tests.helpers.git import git
from tests.helpers.manifests import example_manifest, example_snapshot

EVAL = example_snapshot(0, "/data/eval", "eval")


def _pair(old: SnapshotRef, new: SnapshotRef) -> tuple[Manifest, Manifest]:
    baseline = example_manifest(auc=84.0, data=DataAxis(train=old, eval=EVAL))
    candidate = example_manifest(seed=99, auc=80.0, run_id="run-b")
    return baseline, dataclasses.replace(candidate, data=DataAxis(train=new, eval=EVAL))


# ---- data ------------------------------------------------------------------------------------


def test_delta_versions_give_rows_operations_schema_and_label_rates(tmp_path: Path) -> None:
    table = versioned_table(tmp_path)
    old = open_snapshot(table.path, version=0).ref
    new = open_snapshot(table.path, version=3).ref
    diagnosis = diagnose(*_pair(old, new), check_snapshots=True)
    assert diagnosis.content is not None
    (data,) = diagnosis.content.data
    assert (data.role, data.baseline_version, data.candidate_version) == ("train", 0, 3)
    # The commits in between, oldest first, with the writer's mode and metadata.
    assert [c.version for c in data.commits] == [1, 2, 3]
    assert [c.operation for c in data.commits] == ["WRITE"] * 3
    assert "mode=Append" in data.commits[0].details
    assert "job=relabel" in data.commits[1].details and "mode=Overwrite" in data.commits[1].details
    assert all(c.timestamp and c.timestamp.endswith("+00:00") for c in data.commits)
    # Rows: every row hashed; appended rows and relabelled rows are added, old labels removed.
    appended = table.rows[3] - table.rows[0]
    assert (data.rows_baseline, data.rows_candidate) == (table.rows[0], table.rows[3])
    assert data.rows_added == appended + len(RELABELLED)
    assert data.rows_removed == len(RELABELLED)
    assert data.scan is not None and "every row of both versions hashed" in data.scan
    assert "compared on the 3 columns" in data.scan  # `source` exists in v3 only
    # Schema: one column added, nothing retyped.
    assert [(c.column, c.baseline, c.candidate) for c in data.columns] == [
        ("source", None, "string")
    ]
    # Label rate of each side, from a column named `label`.
    assert data.label is not None and data.label.column == "label"
    assert data.label.baseline == pytest.approx(table.positives[0] / table.rows[0])
    assert data.label.candidate == pytest.approx(table.positives[3] / table.rows[3])
    assert data.problems == ()
    line = content_lines(diagnosis.content)["data"][0]
    assert "v0 → v3" in line and "60 added, 10 removed" in line and "+source (string)" in line
    assert "v1 WRITE append" in line and "label rate (label) 20.00 % → 34.00 %" in line


def test_the_content_diff_travels_in_the_json_and_the_reports(tmp_path: Path) -> None:
    table = versioned_table(tmp_path)
    old = open_snapshot(table.path, version=1).ref
    new = open_snapshot(table.path, version=2).ref
    diagnosis = diagnose(*_pair(old, new))
    assert diagnosis.content is not None
    data = json.loads(renderer_for("json").render(diagnosis))
    assert data["content"]["data"][0]["rows_added"] == len(RELABELLED)
    assert diagnosis_from_json(data) == diagnosis  # it reads back as it was written
    html = renderer_for("html").render(diagnosis)
    assert 'id="content-data"' in html and 'href="#content-data"' in html
    assert "job=relabel" in html
    md = renderer_for("md").render(diagnosis)
    assert "What changed inside data" in md and "job=relabel" in md


def test_a_diagnosis_without_content_is_written_and_read_as_before(tmp_path: Path) -> None:
    baseline, candidate = _pair(example_snapshot(3), example_snapshot(3))
    diagnosis = diagnose(baseline, candidate, content=None)
    written = diagnosis_to_json(diagnosis)
    assert "content" not in written  # omitted when None: older readers see the same keys
    assert diagnosis_from_json(written).content is None


def test_a_scan_over_the_cap_says_so_and_keeps_the_metadata(tmp_path: Path) -> None:
    table = versioned_table(tmp_path)
    old = open_snapshot(table.path, version=0).ref
    new = open_snapshot(table.path, version=3).ref
    capped = table_content("train", old, new, ContentOptions(max_rows=120))
    assert capped.scan == (
        f"row sets not compared: the candidate version has {table.rows[3]:,} rows, over the cap "
        "of 120"
    )
    assert capped.rows_added is None and capped.rows_removed is None
    assert (capped.rows_baseline, capped.rows_candidate) == (table.rows[0], table.rows[3])
    assert [c.version for c in capped.commits] == [1, 2, 3]  # from the log: no cap applies
    assert capped.label is not None  # one column: up to 10x the cap
    # Under a cap the label column does not fit either: asked for by name, it says why.
    tight = table_content("train", old, new, ContentOptions(max_rows=10), ("label", "test"))
    assert tight.label is None
    assert tight.problems == (
        f"no label rate: the candidate version has {table.rows[3]:,} rows, over the cap of 100",
    )
    # Over the byte cap as well.
    small = table_content("train", old, new, ContentOptions(max_bytes=100))
    assert small.scan is not None and "of data files, over the cap of 100 bytes" in small.scan


def test_a_missing_version_is_a_could_not_compute_line_and_the_report_renders(
    tmp_path: Path,
) -> None:
    table = versioned_table(tmp_path)
    old = open_snapshot(table.path, version=0).ref
    gone = dataclasses.replace(old, version=9)
    diagnosis = diagnose(*_pair(old, gone))
    assert diagnosis.content is not None
    (data,) = diagnosis.content.data
    assert data.rows_added is None and data.label is None
    assert [p.split(":")[0] for p in data.problems] == [
        "could not compute the commits in between",
        "could not read the versions' metadata",
    ]
    assert all("no version v9" in p or "version 9" in p for p in data.problems), data.problems
    for fmt in ("html", "md", "json"):
        assert "could not compute the commits in between" in renderer_for(fmt).render(diagnosis)
    # A table that is not on this machine, or an object store without credentials, is not tried.
    elsewhere = dataclasses.replace(old, uri=str(tmp_path / "moved"))
    assert table_content("train", elsewhere, gone, ContentOptions()).problems == (
        f"not computed: {tmp_path / 'moved'} does not exist on this machine",
    )
    remote = dataclasses.replace(old, uri="s3://bucket/events")
    assert table_content("train", remote, remote, ContentOptions()).problems == (
        "not computed: s3://bucket/events is not a local path (object stores need storage options)",
    )


def test_no_snapshot_check_reads_no_table(tmp_path: Path) -> None:
    table = versioned_table(tmp_path)
    old = open_snapshot(table.path, version=0).ref
    new = open_snapshot(table.path, version=2).ref
    diagnosis = diagnose(*_pair(old, new), check_snapshots=False)
    assert diagnosis.content is not None
    (data,) = diagnosis.content.data
    assert data.commits == () and data.rows_baseline is None
    assert data.problems == (
        "not computed: the snapshots were not to be read (--no-snapshot-check)",
    )


def test_a_label_column_that_is_not_binary_says_why(tmp_path: Path) -> None:
    table = versioned_table(tmp_path)
    old = open_snapshot(table.path, version=0).ref
    new = open_snapshot(table.path, version=1).ref
    found = table_content("train", old, new, ContentOptions(), ("id", "--label-column"))
    assert found.label is None
    assert found.problems == (
        "no label rate for column 'id': it is not binary (values 0, 1, 2, 3, 4, ...)",
    )
    missing = table_content("train", old, new, ContentOptions(), ("clicked", "--label-column"))
    assert missing.problems == (
        "no label rate: column 'clicked' (--label-column) is not in the baseline and candidate "
        "version",
    )


def test_label_column_comes_from_the_option_then_the_params(tmp_path: Path) -> None:
    table = versioned_table(tmp_path)
    old = open_snapshot(table.path, version=0).ref
    new = open_snapshot(table.path, version=1).ref
    baseline, candidate = _pair(old, new)
    params = {**baseline.intent.params, "label_column": "label"}
    baseline = dataclasses.replace(
        baseline, intent=dataclasses.replace(baseline.intent, params=params)
    )
    found = content_diff(baseline, candidate)
    assert found is not None and found.data[0].label is not None
    assert found.data[0].label.source == "the baseline's intent.params.label_column"
    chosen = content_diff(baseline, candidate, ContentOptions(label_column="x"))
    assert chosen is not None and chosen.data[0].label is None
    assert "not binary" in chosen.data[0].problems[0]


def test_iceberg_snapshots_give_commits_rows_and_a_scan(tmp_path: Path) -> None:
    from tests.test_snapshots_iceberg import MORE, make_table

    uri, options, tbl = make_table(tmp_path)
    old = open_snapshot(uri, storage_options=options).ref
    tbl.append(MORE)
    tbl.append(MORE)
    new = open_snapshot(uri, storage_options=options).ref
    found = table_content("train", old, new, ContentOptions(storage_options=options))
    assert [c.operation for c in found.commits] == ["append", "append"]
    assert (found.rows_baseline, found.rows_candidate) == (3, 5)
    assert (found.rows_added, found.rows_removed) == (2, 0)
    assert found.problems == ()


# ---- environment -----------------------------------------------------------------------------


def test_lock_diff_names_added_removed_and_changed_packages() -> None:
    baseline = example_manifest()
    lock = baseline.code.lock
    assert isinstance(lock, LockRef)
    old = {"numpy": "1.26.4", "six": "1.16.0", "Requests": "2.31.0"}
    new = {"numpy": "2.1.3", "requests": "2.31.0", "pyarrow": "17.0.0"}
    b = dataclasses.replace(
        baseline,
        code=dataclasses.replace(baseline.code, lock=dataclasses.replace(lock, packages=old)),
    )
    c = dataclasses.replace(
        baseline,
        code=dataclasses.replace(
            baseline.code, lock=LockRef("uv.lock", "uv.lock", "sha256:" + "cd" * 32, new)
        ),
    )
    found = content_diff(b, c)
    assert found is not None and found.environment is not None
    env = found.environment
    assert env.source == "lock" and env.compared == 4  # Requests and requests are one
    assert [(x.name, x.kind, x.baseline, x.candidate) for x in env.changes] == [
        ("numpy", "changed", "1.26.4", "2.1.3"),
        ("pyarrow", "added", None, "17.0.0"),
        ("six", "removed", "1.16.0", None),
    ]
    line = content_lines(found)["environment"][0]
    assert line == (
        "lock: 1 changed version (numpy 1.26.4 → 2.1.3); 1 added (pyarrow 17.0.0); "
        "1 removed (six 1.16.0) of 4 packages"
    )
    html = renderer_for("html").render(diagnose(b, c))
    assert "<td><code>pyarrow</code></td><td>added</td>" in html


def test_without_lock_packages_the_recorded_libraries_are_compared() -> None:
    baseline = example_manifest()
    env = dataclasses.replace(
        baseline.environment, libraries={"numpy": "2.5.0", "torch": "2.13.0+cpu"}
    )
    lock = LockRef("uv.lock", "uv.lock", "sha256:" + "ef" * 32)
    candidate = dataclasses.replace(
        baseline, environment=env, code=dataclasses.replace(baseline.code, lock=lock)
    )
    found = content_diff(baseline, candidate)
    assert found is not None and found.environment is not None
    assert found.environment.source == "libraries"
    assert [(x.name, x.baseline, x.candidate) for x in found.environment.changes] == [
        ("numpy", "2.4.6", "2.5.0")
    ]
    assert "neither names its packages" in found.environment.problems[0]
    assert lock_diff({"a": "1"}, {"a": "1"}) == ()


# ---- code ------------------------------------------------------------------------------------

HOSTILE = "</code></pre><script>window.__pwned=1</script>"


def _repo_pair(tmp_path: Path) -> tuple[Manifest, Manifest]:
    repo = tmp_path / "job"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "train.py").write_text("lr = 0.003\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "job")
    clean = probe_code(repo, "train:train")
    (repo / "train.py").write_text(f"lr = 0.03  # {HOSTILE}\n")
    dirty = probe_code(repo, "train:train")
    assert dirty.dirty is True and not isinstance(dirty.patch, Skipped)
    base = example_manifest()
    return (
        dataclasses.replace(base, code=clean),
        dataclasses.replace(example_manifest(auc=78.0, run_id="run-b"), code=dirty),
    )


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def test_a_dirty_patch_is_shown_collapsed_and_inert(tmp_path: Path) -> None:
    baseline, candidate = _repo_pair(tmp_path)
    diagnosis = diagnose(baseline, candidate)
    assert diagnosis.content is not None and diagnosis.content.code is not None
    (patch,) = diagnosis.content.code.patches
    assert (patch.side, patch.files, patch.added, patch.removed) == (
        "candidate",
        ("train.py",),
        1,
        1,
    )
    assert patch.sha256 == candidate.code.patch.sha256  # type: ignore[union-attr]
    html = renderer_for("html").render(diagnosis)
    parser = _Tags()
    parser.feed(html)
    assert "script" not in parser.tags
    assert "details" in parser.tags and "pre" in parser.tags
    assert HOSTILE in "".join(parser.text)  # shown as text, inside the collapsed block
    assert html.index("<details") < html.index("window.__pwned=1") < html.index("</details>")
    md = renderer_for("md").render(diagnosis)
    block = md[md.index("```diff") :]
    assert HOSTILE in block.split("```\n")[0]  # inside the fenced block, which it cannot close


def test_a_long_patch_is_cut_at_a_line_and_says_so(tmp_path: Path) -> None:
    from reprodiag.diagnosis.content import PATCH_SHOWN_CHARS, shown_patch
    from reprodiag.manifest.model import Patch

    text = "diff --git a/a.py b/a.py\n" + "".join(f"+line {i}\n" for i in range(5000))
    shown = shown_patch("candidate", Patch(text, "sha256:" + "0" * 64, len(text)))
    assert shown.truncated and len(shown.text) <= PATCH_SHOWN_CHARS
    assert shown.text.endswith("\n") and shown.added == 5000  # counted on the whole patch


def test_reprodiag_diff_prints_the_content(tmp_path: Path) -> None:
    baseline, candidate = _repo_pair(tmp_path)
    table = versioned_table(tmp_path)
    baseline = dataclasses.replace(
        baseline, data=DataAxis(train=open_snapshot(table.path, version=0).ref, eval=EVAL)
    )
    candidate = dataclasses.replace(
        candidate, data=DataAxis(train=open_snapshot(table.path, version=3).ref, eval=EVAL)
    )
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    write_manifest(baseline, a)
    write_manifest(candidate, b)
    runner = CliRunner()
    result = runner.invoke(diff, [str(a), str(b)])
    assert result.exit_code == 0, result.output
    text = result.output[result.output.index("what changed inside:") :]
    assert "data" in text and "60 added, 10 removed" in text
    assert "candidate patch: 1 file (+1 −1 lines" in text and "(--patch prints the patch)" in text
    assert HOSTILE not in result.output
    with_patch = runner.invoke(diff, [str(a), str(b), "--patch"])
    assert HOSTILE in with_patch.output
    bare = runner.invoke(diff, [str(a), str(b), "--no-content"])
    assert "what changed inside" not in bare.output


def test_in_chromium_the_patch_is_collapsed_and_its_markup_never_runs(tmp_path: Path) -> None:
    from reprodiag.report import write_reports
    from tests.helpers.browser import Chromium, find_chromium
    from tests.helpers.content_samples import with_content
    from tests.test_browser import NEEDS, when_missing

    if find_chromium() is None:
        if when_missing() == "skip":
            pytest.skip(NEEDS)
        pytest.fail(f"{NEEDS}; or set REPRODIAG_SKIP_BROWSER=1")
    page = write_reports(with_content(), tmp_path)[0].resolve()
    with Chromium() as browser:
        seen = browser.load(page.as_uri())
        assert seen.errors == [] and seen.requests == [page.as_uri()]
        assert browser.evaluate("typeof window.__pwned") == "undefined"
        assert browser.evaluate("document.querySelectorAll('script').length") == 0
        assert browser.evaluate("document.querySelector('details.patch').open") is False
        shown = browser.evaluate("document.querySelector('details.patch pre').textContent")
        assert "<script>window.__pwned=3</script>" in shown  # the patch, as text
        link = browser.evaluate("document.querySelector('a[href=\"#content-data\"]') !== null")
        assert link and browser.evaluate("document.getElementById('content-data') !== null")


def test_dvc_snapshots_give_their_two_revisions(tmp_path: Path) -> None:
    from tests.helpers.snapshots import dvc_commit, dvc_repo

    repo = dvc_repo(tmp_path / "repo")
    first = dvc_commit(repo / "train.csv", "id,label\n1,0\n", "v1")
    second = dvc_commit(repo / "train.csv", "id,label\n1,1\n2,0\n", "v2")
    old = open_snapshot(repo / "train.csv", format="dvc", version=first).ref
    new = open_snapshot(repo / "train.csv", format="dvc", version=second).ref
    found = table_content("train", old, new, ContentOptions())
    assert [(c.version, c.operation) for c in found.commits] == [
        (first, "pinned by the baseline"),
        (second, "pinned by the candidate"),
    ]
    assert found.commits[0].details == f"content {old.fingerprint}"
    assert found.scan is not None and "row count is not in its metadata" in found.scan
    assert found.problems == ()
