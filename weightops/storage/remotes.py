"""Where DVC objects live: existence checks against any DVC remote, through the Store interface."""

from __future__ import annotations

from typing import TYPE_CHECKING

from weightops.storage.pointers import Pointer, Remote

if TYPE_CHECKING:
    from weightops.project import Project


def object_exists(project: "Project", remote: Remote, pointer: Pointer) -> bool:
    """True when the remote holds the object (for a directory: its listing and every file).

    Raises UsageError (exit 2) for an unsupported scheme or a missing DVC plugin, and
    WeightopsError (exit 1) when the remote refuses the credentials or cannot be reached."""
    from weightops.storage.backends import open_store
    from weightops.storage.transfer import object_exists as exists

    return exists(open_store(project, remote), pointer)
