"""OCI registries as a data plane: ModelPack artifacts pushed and pulled over the distribution API.

Depends only on the standard library, urllib3 and weightops.errors (no DVC, no git, no Typer),
so a deploy host without DVC can import it.
"""
