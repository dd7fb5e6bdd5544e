"""Results of batch captioning as a file: CSV, JSON lines or Parquet, resumable.

One row per image: source, caption, alternatives, concepts, error, taken from the result's JSON
(`CaptionResult.to_dict`; alternatives and concepts as JSON text in CSV and Parquet). Rows are appended a batch at a time and flushed to disk, so an
interrupted run loses at most the batch in flight; a second run over the same inputs skips the
images already in the file. Parquet cannot be appended to: its rows are journaled in
`FILE.partial.jsonl` and the Parquet file is (re)written atomically when the run ends.
"""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path

from captioner.atomic import atomic_path
from captioner.errors import CaptionerError
from captioner.runtime.model.result import CaptionResult

COLUMNS = ("source", "caption", "alternatives", "concepts", "error")  # of CaptionResult.to_dict()
FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".parquet": "parquet"}


def result_row(result: CaptionResult) -> dict:
    """A result as one output row: its JSON's file columns (empty values as null)."""
    data = result.to_dict()
    return {k: data[k] or None for k in COLUMNS}


def _flat(row: dict) -> dict:
    """Nested values as JSON text (CSV, Parquet)."""
    return {k: (json.dumps(row[k]) if isinstance(row.get(k), (list, dict)) else row.get(k)) for k in COLUMNS}


def _complete_lines(path: Path) -> None:
    """Cut a partly written last line left by an interrupted run."""
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        with open(path, "r+b") as handle:
            handle.truncate(data.rfind(b"\n") + 1)


class ResultWriter:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.kind = FORMATS.get(self.path.suffix.lower())
        if self.kind is None:
            raise CaptionerError(f"--output must end in .csv, .jsonl or .parquet, not {self.path.name!r}")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.journal = self.path.with_name(self.path.name + ".partial.jsonl") if self.kind == "parquet" else self.path
        self.done = {row["source"] for row in self._existing_rows()}
        self.written = 0

    def _existing_rows(self) -> list[dict]:
        rows: list[dict] = []
        if self.kind == "parquet" and self.path.is_file():
            rows += _parquet().read_table(self.path).to_pylist()
        if self.journal.is_file():
            _complete_lines(self.journal)
            text = self.journal.read_text()
            if self.kind == "csv":
                rows += list(csv.DictReader(io.StringIO(text)))
            else:
                rows += [json.loads(line) for line in text.splitlines() if line.strip()]
        for row in rows:  # files written before the column had its result's name call it "image"
            if "source" not in row and "image" in row:
                row["source"] = row.pop("image")
        return rows

    def skip(self, image: str) -> bool:
        """Whether a previous run already wrote this image's row (captioned or failed)."""
        return image in self.done

    def write(self, results: list[CaptionResult]) -> None:
        """Append a batch of results and flush them to disk."""
        if not results:
            return
        rows = [result_row(r) for r in results]
        new = not self.journal.is_file() or self.journal.stat().st_size == 0
        with open(self.journal, "a", newline="", encoding="utf-8") as handle:
            if self.kind == "csv":
                writer = csv.DictWriter(handle, fieldnames=COLUMNS)
                if new:
                    writer.writeheader()
                writer.writerows(_flat(row) for row in rows)
            else:
                handle.writelines(json.dumps({k: row.get(k) for k in COLUMNS}) + "\n" for row in rows)
            handle.flush()
            os.fsync(handle.fileno())
        self.written += len(rows)

    def close(self) -> None:
        """Parquet: write the file from earlier rows and the journal, then drop the journal."""
        if self.kind != "parquet" or not self.journal.is_file():
            return
        pq = _parquet()
        import pyarrow as pa

        rows = [_flat(row) for row in self._existing_rows()]
        table = pa.Table.from_pylist(rows, schema=pa.schema([(c, pa.string()) for c in COLUMNS]))
        with atomic_path(self.path) as tmp:
            pq.write_table(table, tmp)
        self.journal.unlink()


def _parquet():
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise CaptionerError("Parquet output needs pyarrow: pip install pyarrow (or write .csv or .jsonl)") from None
    return pq
