"""An export folder: files written with their README entry, published atomically.

Writers add files through :class:`ExportFolder` (which records a one-line description
and row count for each) and notes; :func:`atomic_folder` builds everything in a
hidden temporary sibling and renames it into place only when the writer succeeded,
so a failure leaves no folder behind.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from territory_opt.export.csvsafe import write_csv


@dataclass
class ExportFolder:
    """The folder being written plus what its README.md will list."""

    path: Path
    files: list[tuple[str, str, int | None]] = field(
        default_factory=list
    )  # name, description, rows
    notes: list[str] = field(default_factory=list)
    sections: list[tuple[str, str]] = field(default_factory=list)  # heading, markdown body

    def csv(
        self,
        name: str,
        frame: pd.DataFrame,
        description: str,
        *,
        text_columns: Iterable[str] = (),
        bom: bool = False,
    ) -> Path:
        """Write one CSV (see :func:`write_csv`) and list it in the README."""
        target = self.path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        rows = write_csv(target, frame, text_columns=text_columns, bom=bom)
        self.files.append((name, description, rows))
        return target

    def text(self, name: str, content: str, description: str | None = None) -> Path:
        """Write a UTF-8 text file (XML, Markdown); listed when ``description`` is given."""
        target = self.path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content, encoding="utf-8", newline="\n")
        if description is not None:
            self.files.append((name, description, None))
        return target

    def add(self, name: str, description: str, rows: int | None = None) -> Path:
        """List a file the writer produced by other means (GeoPackage, workbook)."""
        self.files.append((name, description, rows))
        return self.path / name

    def note(self, text: str) -> None:
        self.notes.append(text)

    def section(self, heading: str, body: str) -> None:
        self.sections.append((heading, body))

    def readme(self, title: str, intro: str) -> str:
        lines = [
            f"# {title}",
            "",
            intro,
            "",
            "## Files",
            "",
            "| File | Rows | Content |",
            "|---|---|---|",
        ]
        for name, description, rows in self.files:
            lines.append(f"| `{name}` | {'' if rows is None else rows} | {description} |")
        for heading, body in self.sections:
            lines += ["", f"## {heading}", "", body.rstrip()]
        if self.notes:
            lines += ["", "## Notes", ""] + [f"- {n}" for n in self.notes]
        return "\n".join(lines) + "\n"


@contextmanager
def atomic_folder(target: Path) -> Iterator[Path]:
    """Yield a temporary folder next to ``target``; on success it replaces ``target``.

    An existing ``target`` is moved aside first and removed only after the new folder
    is in place. On any exception the temporary folder is deleted and ``target`` is
    left as it was.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    os.chmod(staging, 0o755)  # mkdtemp makes it private; the export is an ordinary folder
    try:
        yield staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    previous = None
    if target.exists():
        previous = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
        os.replace(target, previous / target.name)
    try:
        os.replace(staging, target)
    except BaseException:
        if previous is not None:
            os.replace(previous / target.name, target)
        shutil.rmtree(staging, ignore_errors=True)
        raise
    finally:
        if previous is not None:
            shutil.rmtree(previous, ignore_errors=True)
