"""A content diff built by hand for the report tests: a patch, a lock diff and a Delta table's
versions, with the values a careful reader checks (and markup that must stay text).

`with_content()` is the `with_band()` incident with this content diff: the gold files
`tests/gold/with_content.*` show how the reports lay it out beside each axis.
"""

from __future__ import annotations

import dataclasses

from reprodiag.diagnosis.content import (
    CodeContent,
    ColumnChange,
    ContentDiff,
    DataContent,
    EnvironmentContent,
    LabelRate,
    PackageChange,
    TableCommit,
    patch_stats,
)
from reprodiag.diagnosis.model import Diagnosis

PATCH = """\
diff --git a/train.py b/train.py
index 3f2a9c1..8b0e4d2 100644
--- a/train.py
+++ b/train.py
@@ -10,7 +10,8 @@ def train(ctx):
-    lr = ctx.params["lr"]
+    lr = ctx.params["lr"] * 10  # </code></pre><script>window.__pwned=3</script>
+    ```not a fence closer```
     model = build(ctx)
"""


def sample_content() -> ContentDiff:
    """Every part of a content diff, with a patch that tries to break out of its block."""
    from reprodiag.diagnosis.content import PatchShown

    files, added, removed = patch_stats(PATCH)
    return ContentDiff(
        code=CodeContent(
            patches=(
                PatchShown(
                    side="candidate",
                    sha256="sha256:" + "7c1e" * 16,
                    size=len(PATCH.encode()),
                    files=files,
                    added=added,
                    removed=removed,
                    text=PATCH,
                ),
            ),
            problems=(
                "could not show the baseline's patch: not recorded by this reprodiag version",
            ),
        ),
        environment=EnvironmentContent(
            source="lock",
            changes=(
                PackageChange("numpy", "1.26.4", "2.1.3"),
                PackageChange("pyarrow", None, "17.0.0"),
                PackageChange("six", "1.16.0", None),
            ),
            compared=42,
        ),
        data=(
            DataContent(
                role="train",
                format="delta",
                uri="/lake/churn/events",
                baseline_version=4,
                candidate_version=7,
                commits=(
                    TableCommit(5, "WRITE", "2026-11-24T02:00:00+00:00", "mode=Append"),
                    TableCommit(6, "WRITE", "2026-11-25T02:00:00+00:00", "mode=Append"),
                    TableCommit(
                        7,
                        "WRITE",
                        "2026-11-25T09:30:00+00:00",
                        "mode=Overwrite; reprodiag.op=correct-labels",
                    ),
                ),
                rows_baseline=20_000,
                rows_candidate=36_000,
                rows_added=17_020,
                rows_removed=1_020,
                scan="every row of both versions hashed (56,000 rows, within the cap of "
                "1,000,000 rows and 256 MiB per version)",
                columns=(ColumnChange("campaign", None, "string"),),
                label=LabelRate("label", "a column named 'label'", 0.18365, 0.26864),
            ),
            DataContent(
                role="eval",
                format="delta",
                uri="/lake/churn/eval",
                baseline_version=0,
                candidate_version=1,
                problems=(
                    "could not compute the commits in between: delta table /lake/churn/eval "
                    "does not exist or cannot be reached.",
                ),
            ),
        ),
    )


def with_content() -> Diagnosis:
    """The with_band() incident with sample_content() as its content diff."""
    from tests.helpers.report_samples import with_band

    return dataclasses.replace(with_band(), content=sample_content())
