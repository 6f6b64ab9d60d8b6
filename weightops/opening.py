"""Opening a project by path or URL: a work tree or bare repository (project.py), or a remote one
read through a cached partial clone (storage/remote_repo.py). It sits above both because the
remote project is a Project subclass."""

from __future__ import annotations

import os

from weightops.core.gitdir import is_url
from weightops.project import Project


def open_project(repo: str | os.PathLike = ".") -> "Project":
    """The repository at a path, or one named by URL, read without a clone through a cached
    partial clone (storage/remote_repo.py). NotFoundError (3) when neither is there."""
    if is_url(repo):
        from weightops.storage.remote_repo import open_remote

        return open_remote(str(repo))
    return Project(repo)
