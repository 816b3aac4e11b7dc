"""A diagnosis in a notebook: the report's first screen as inline HTML, the ranking as a table.

`Diagnosis._repr_html_`, `.to_frame()` and `.to_json()` call these, so a notebook cell that ends
with a diagnosis shows the conclusion, the bar, the gap and the ranked axes without writing a
file. The HTML is a fragment (no <html>, no script), every value escaped, styled inline so it
reads the same in Jupyter, VS Code and a rendered notebook on GitHub.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from markupsafe import Markup, escape

from reprodiag.diagnosis.model import Diagnosis, RunLabel
from reprodiag.report.formatting import AXIS_STATUS
from reprodiag.report.html import code_spans

if TYPE_CHECKING:
    import pandas as pd

COLUMNS = (
    "rank",
    "axis",
    "status",
    "reason",
    "points",
    "low",
    "high",
    "check",
    "evidence",
)
_TH = Markup("<th style='padding:2px 8px;text-align:left;border-bottom:1px solid #ddd'>{}</th>")
_TD = Markup(
    "<td style='padding:2px 8px;text-align:left;vertical-align:top;"
    "border-bottom:1px solid #ddd'>{}</td>"
)


def ranking_frame(diagnosis: Diagnosis) -> pd.DataFrame:
    """The ranking as a DataFrame, one row per axis in rank order: its status, the reason, the
    points of the gap it explains with their interval and the check that measured them (NaN and
    None where no retrain measured it), and its evidence joined by "; "."""
    import pandas as pd

    rows = []
    for r in diagnosis.ranking:
        a = r.attribution
        rows.append(
            {
                "rank": r.rank,
                "axis": r.axis,
                "status": r.status,
                "reason": r.reason,
                "points": a.points if a else float("nan"),
                "low": a.low if a else float("nan"),
                "high": a.high if a else float("nan"),
                "check": a.check if a else None,
                "evidence": "; ".join(r.evidence),
            }
        )
    return pd.DataFrame(rows, columns=list(COLUMNS)).set_index("rank")


def _run(run: RunLabel) -> str:
    return f"{run.label} ({run.run_name})" if run.run_name else run.label


def _gap_line(d: Diagnosis) -> str:
    g = d.gap
    if g.baseline is None or g.candidate is None:
        return f"{g.metric}: worse by {g.worse_by:.4g} (given)"
    word = "worse" if g.worse_by > 0 else "better" if g.worse_by < 0 else "equal"
    return (
        f"{g.metric} ({g.direction} is better): {g.baseline:.4g} → {g.candidate:.4g} "
        f"({abs(g.worse_by):.4g} {word})"
    )


def first_screen_html(diagnosis: Diagnosis) -> str:
    """The report's first screen as an HTML fragment: title, the two runs, the gap, the
    conclusion, the reproducibility bar and the ranked axes with their reasons."""
    d = diagnosis
    parts = [
        Markup('<div class="reprodiag-diagnosis" style="font-family:sans-serif;max-width:60em">'),
        Markup("<h3 style='margin:0.2em 0'>{}</h3>").format(d.title),
        Markup("<p style='margin:0.2em 0'>{} → {} · {}</p>").format(
            _run(d.baseline), _run(d.candidate), _gap_line(d)
        ),
    ]
    if d.conclusion is not None:
        parts.append(
            Markup("<p style='margin:0.2em 0'><b>Conclusion: {}</b> {}</p>").format(
                d.conclusion.kind, code_spans(d.conclusion.sentence)
            )
        )
    else:
        parts.append(Markup("<p style='margin:0.2em 0'>{}</p>").format(code_spans(d.summary)))
    if d.bar is not None:
        parts.append(
            Markup("<p style='margin:0.2em 0'>Reproducibility bar: <b>{}</b>: {}</p>").format(
                d.bar.level, code_spans(d.bar.reason)
            )
        )
    parts.append(Markup("<table style='border-collapse:collapse'><tr>"))
    parts.extend(_TH.format(h) for h in ("#", "axis", "status", "why"))
    parts.append(Markup("</tr>"))
    for r in d.ranking:
        label = AXIS_STATUS[r.status].label if r.status in AXIS_STATUS else r.status
        cells = (r.rank, r.axis, Markup("<b>{}</b>").format(label), code_spans(r.reason))
        parts.extend([Markup("<tr>"), *(_TD.format(c) for c in cells), Markup("</tr>")])
    parts.append(Markup("</table>"))
    if d.band is not None:
        parts.append(Markup("<p style='margin:0.2em 0'>Noise band: {}</p>").format(d.band.outcome))
    parts.append(Markup("</div>"))
    return str(escape("").join(parts))
