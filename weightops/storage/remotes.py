"""Where DVC objects live: existence checks against a DVC remote (local directory or S3)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from weightops.errors import WeightopsError
from weightops.storage.pointers import Pointer, Remote

if TYPE_CHECKING:
    from weightops.project import Project


def object_exists(project: "Project", remote: Remote, pointer: Pointer) -> bool:
    """True when the remote holds the object (for a directory: its listing and every file)."""
    url = project.object_url(remote, pointer)
    if remote.is_local:
        if not os.path.isfile(url):
            return False
        if pointer.is_dir:
            from weightops.storage.transfer import dir_entries_local
            return all(os.path.isfile(project.object_url(remote, p)) for p in dir_entries_local(url, pointer))
        return True
    if remote.is_s3:
        from weightops.storage.transfer import s3_object_exists
        return s3_object_exists(project, remote, pointer)
    raise WeightopsError(f"remote '{remote.name}' ({remote.url}) uses a scheme weightops does not support yet; "
                         "use a local directory or s3:// remote")
