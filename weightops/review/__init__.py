"""Reviewing changes and the registry: pointer diffs, release notes, CI checks, guard, audit and
the HTML report. May import every package but deploy and cli."""
