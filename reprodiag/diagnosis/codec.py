"""A Diagnosis to and from JSON: the versioned `reprodiag.diagnosis/v2` format (v1 still read).

The JSON is the record's fields as they are (tuples as lists), in canonical sorted-key form;
reprodiag/_records.py writes and reads it from the records' type hints, so an error names the file,
the JSON path, what was expected and what was found, and an unknown format version is refused with
the versions read here.

reprodiag.diagnosis/v2 (issues #11 and #12), against v1:
- retrain checks end in one of three outcomes: verdict "explains", "excluded" or "cant_tell"
  ("confirms" and "inconclusive" stay readable); axis statuses gain "excluded" and "cant_tell";
  the band outcome gains "unusual baseline draw";
- new fields: "conclusion" ({kind, sentence}), "bar" ({level, reason}), "spending" (where the
  retrains went), "gap.threshold" (compare --accept-at); a baseline_band check may appear;
- the incident title, owner and timeline moved from a free-form "metadata" object to the typed
  "incident" record ({"title", "owner", "timeline"}, or null when none was given; issue #11).
  Files written before carry "metadata": diagnosis_from_json still reads them and maps the object
  to "incident" (title and owner as text, timeline lines as text), so saved diagnoses re-render
  as before.
- optional, written only when set (issue 13): a check's "bisection" ({axis, points, steps[] of
  {point, retrains, values, verdict, words}, first, first_info, remaining, stop, and the
  optional infos[]: each point's commit info}) on the data_bisection and code_bisection
  checks; the code_swap check may appear.
- optional, written only when set (issue 13): "content" ({code: {patches[], problems[]},
  environment: {source, changes[] of {name, baseline, candidate}, compared, problems[]},
  data[] of {role, format, uri, baseline_version, candidate_version, commits[], rows_baseline,
  rows_candidate, rows_added, rows_removed, scan, columns[], label, problems[]}}): what changed
  inside the axes (reprodiag/diagnosis/content.py).
- added within v2 (a reader before them refuses such a file, naming the value): the conclusion
  kind "retrain refused" (the smoke retrain ran but is not the pipeline it stands for), and the
  noise band check's verdict "consistent" (the baseline inside the band: seeds alone can produce
  the gap; it was "explains", which claimed more than the band shows). Files that say
  "explains" there still read.
"""

from __future__ import annotations

import os
from pathlib import Path

from reprodiag._atomic import atomic_write_text
from reprodiag._records import RecordError, RecordFormat, canonical_json
from reprodiag.diagnosis.model import DIAGNOSIS_FORMAT, Diagnosis
from reprodiag.manifest.load import read_json_file
from reprodiag.manifest.model import JSONValue

# A v1 file decodes into the v2 record: every field added in v2 has a default.
READABLE_FORMATS = ("reprodiag.diagnosis/v1", DIAGNOSIS_FORMAT)


class DiagnosisError(RecordError):
    """A diagnosis file that cannot be read or does not follow its format."""


# reprodiag.diagnosis/v2: the Diagnosis record of diagnosis/model.py as it is.
FORMAT = RecordFormat(
    DIAGNOSIS_FORMAT,
    Diagnosis,
    readable=READABLE_FORMATS,
    hint="this reprodiag reads "
    + ", ".join(READABLE_FORMATS)
    + "; upgrade reprodiag to read a newer diagnosis, or re-run `reprodiag compare`",
    error=DiagnosisError,
)


def diagnosis_to_json(diagnosis: Diagnosis) -> dict[str, JSONValue]:
    """Plain JSON data (tuples become lists); `canonical_json` turns it into text."""
    return FORMAT.to_json(diagnosis)


def write_diagnosis(diagnosis: Diagnosis, path: str | os.PathLike[str]) -> Path:
    """Write a diagnosis as canonical JSON, atomically."""
    return atomic_write_text(path, canonical_json(diagnosis_to_json(diagnosis)))


def load_diagnosis(path: str | os.PathLike[str]) -> Diagnosis:
    """Read a diagnosis.json strictly (no duplicate keys, no NaN) and rebuild the record."""
    return diagnosis_from_json(read_json_file(path, "diagnosis file"), str(path))


def diagnosis_from_json(doc: JSONValue, file: str = "<diagnosis>") -> Diagnosis:
    """Rebuild a Diagnosis from parsed JSON; DiagnosisError names the file and JSON path."""
    return FORMAT.from_json(_incident_from_metadata(doc, file), file=file)


def _incident_from_metadata(doc: JSONValue, file: str) -> JSONValue:
    """An older v1 file's free-form "metadata" object as the "incident" record now written."""
    if not isinstance(doc, dict) or "metadata" not in doc or "incident" in doc:
        return doc  # a newer file, or one the decoder refuses with its own message
    upgraded = {key: value for key, value in doc.items() if key != "metadata"}
    metadata = doc["metadata"]
    if not isinstance(metadata, dict):
        raise DiagnosisError(file, "$.metadata", "an object", repr(metadata)[:80])
    incident: dict[str, JSONValue] = {
        key: str(metadata[key])
        for key in ("title", "owner")
        if metadata.get(key) not in (None, "")  # the report showed neither
    }
    timeline = metadata.get("timeline")
    if isinstance(timeline, list):  # anything else showed no timeline
        incident["timeline"] = [_timeline_line(item) for item in timeline]
    upgraded["incident"] = incident or None
    return upgraded


def _timeline_line(item: JSONValue) -> str:
    if isinstance(item, dict):  # {"when", "what"}: the report showed the two side by side
        return f"{item.get('when', '')} {item.get('what', '')}".strip()
    return str(item)
