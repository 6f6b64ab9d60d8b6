import pytest


@pytest.fixture
def named(project):
    """The project in GTO's named style (clf@v1.0.0), with an absolute DVC remote path so
    DVC's own tools can clone it."""
    cfg = project.root / "weightops.yaml"
    cfg.write_text(cfg.read_text().replace("tag_style: plain", "tag_style: named"))
    project.dvc("remote", "modify", "storage", "url", str(project.remote))
    project.git("commit", "-qam", "named tags, absolute remote")
    return project
