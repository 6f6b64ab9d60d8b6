"""Write the registry report page: gather (review/report.py), render (review/report_html.py), write.

Kept apart from both so the renderer can read the report records without the gatherer
importing the renderer back.
"""

from __future__ import annotations

import os
from pathlib import Path

from weightops.errors import UsageError
from weightops.review.report import ReportData, gather
from weightops.review.report_html import render


def default_report_path(repo: str | os.PathLike = ".") -> Path:
    """`.git/weightops/registry.html` (the git dir, beside validation reports): written without
    leaving an untracked file in the work tree."""
    from weightops.project import Project

    return Project(repo).git_dir / "weightops" / "registry.html"


def write_report(out: str | os.PathLike, repo: str | os.PathLike = ".", *, model: str | None = None,
                 findings: list | tuple | None = None, now: int | None = None, audit: bool = True) -> ReportData:
    """Gather the registry (every model, or MODEL), run the audit unless `audit` is false (or use
    `findings`), render one self-contained HTML page and write it to `out` atomically, mode 0644;
    `now` (Unix seconds, default core.clock) dates it. Returns what it showed. UsageError (2) when
    `out` is a folder; NotFoundError (3) outside a repository or for an unknown model."""
    from weightops.core.atomic import atomic_write_text

    if Path(out).is_dir():
        raise UsageError(f"'{out}' is a folder; give the page a file name, e.g. -o {Path(out) / 'registry.html'}")
    data = gather(repo, model=model, findings=findings, now=now, audit=audit)
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out, render(data))
    os.chmod(out, 0o644)  # a page to share, not a secret (the temp file was created 0600)
    return data
