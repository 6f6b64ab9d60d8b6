"""Getting verified bytes onto hosts: pull, lock, verify, sync, deployment logs, hardware variants,
shadow deployments and replay. May import every package but review and cli."""
