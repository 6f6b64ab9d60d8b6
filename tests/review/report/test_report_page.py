"""`weightops report` on a real registry, opened in headless Chromium: what a person sees."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml

from helpers import Project, assert_one_line_error

from .browser import Node, dump_dom, parse_dom, screenshot
from .scenario import NOW, ts


def render(p: Project, out: Path, *args: str) -> str:
    proc = p.wo("report", "-o", str(out), *args, env={"WEIGHTOPS_NOW": str(NOW)}, check=True)
    assert out.is_file()
    return proc.stdout


def section(dom: Node, model: str) -> Node:
    found = dom.find("section", "model", data_model=model)
    assert found is not None, f"no section for {model}"
    return found


def visible_rows(sec: Node) -> list[Node]:
    return [r for r in sec.find_all("tr", "vrow") if r.visible()]


def cells(row: Node) -> list[str]:
    return [c.text.strip() for c in row.find_all("td")]


def card_sha(p: Project, tag: str, path: str = "models/clf.card.yaml") -> str:
    return yaml.safe_load(p.git("show", f"{tag}:{path}"))["artifact"]["sha256"]


def lane(sec: Node, stage: str) -> list[Node]:
    g = sec.find("g", "lane", data_stage=stage)
    assert g is not None, f"no {stage} lane"
    return g.find_all("g", "seg")


def version_at_pixel(sec: Node, stage: str, when: int) -> str | None:
    """What a person reads off the drawing: the bar under the x position of `when`."""
    svg = sec.find("svg", "timeline")
    # the window on screen: the script's zoom (data-a, data-b), else the whole history
    t0, t1 = (float(svg.attrs.get(k) or svg.attrs[full]) for k, full in (("data-a", "data-t0"), ("data-b", "data-t1")))
    gut, pad = (float(svg.attrs[k]) for k in ("data-gut", "data-pad"))
    width = float(svg.attrs["viewbox"].split()[2])
    x = gut + (when - t0) * (width - gut - pad) / (t1 - t0)
    for g in lane(sec, stage):
        rect = g.find("rect")
        if g.visible() and float(rect.attrs["x"]) <= x <= float(rect.attrs["x"]) + float(rect.attrs["width"]):
            return g.attrs["data-version"]
    return None


def test_report_shows_versions_stages_timeline_and_metrics(registry_project, tmp_path):
    p = registry_project
    page = tmp_path / "registry.html"
    said = render(p, page)
    assert "2 model(s), 4 version(s)" in said
    text = page.read_text()
    # One self-contained file: no stylesheet, script or image fetched from anywhere.
    assert not re.search(r"<(link|img|iframe)\b", text)
    assert not re.search(r"<script[^>]*\bsrc=", text)
    assert not re.search(r"(?:src|href)=[\"']?(?:https?:)?//", text)

    dom = parse_dom(dump_dom(page, tmp_path))
    assert dom.find("body").attrs.get("data-ready") == "1", "the page's script did not run"

    clf = section(dom, "clf")
    # The versions table, newest first, with what a reviewer checks.
    rows = visible_rows(clf)
    assert [r.attrs["data-version"] for r in rows] == ["v1.2.0", "v1.1.0", "v1.0.0"]
    by_version = {r.attrs["data-version"]: r for r in rows}
    for version, row in by_version.items():
        commit = p.git("rev-parse", f"{version}^{{commit}}")
        assert commit[:10] in cells(row)[2]
        copy = row.find("button", "copy")
        assert copy.attrs["data-copy"] == card_sha(p, version)      # the full value, one click away
        assert card_sha(p, version)[:12] in cells(row)[3]
        assert "212 B" in cells(row)[4]
    assert "Production" in cells(by_version["v1.1.0"])[-1].title()
    assert cells(by_version["v1.2.0"])[-1].lower() == "staging"
    assert cells(by_version["v1.0.0"])[-1] == ""
    assert "sensor=v2" in cells(by_version["v1.2.0"])[-2]
    heads = [th.text for th in clf.find("table").find_all("th")]
    assert "accuracy" in heads and "loss" in heads
    acc = yaml.safe_load(p.git("show", "v1.2.0:models/clf.card.yaml"))["metrics"]["accuracy"]
    assert cells(by_version["v1.2.0"])[heads.index("accuracy")] == f"{acc:.4g}"

    # What is live now, at the top of the model's section.
    holders = {h.attrs["data-stage"]: h.attrs["data-version"] for h in clf.find_all("span", "holder")}
    assert holders == {"production": "v1.1.0", "staging": "v1.2.0"}

    # The production lane: v1.0.0, v1.1.0, v1.2.0, then the rollback to v1.1.0, which still holds it.
    prod = lane(clf, "production")
    assert [g.attrs["data-version"] for g in prod] == ["v1.0.0", "v1.1.0", "v1.2.0", "v1.1.0"]
    assert [int(g.attrs["data-a"]) for g in prod] == [ts("2026-02-05"), ts("2026-02-20"), ts("2026-03-06"), ts("2026-03-08")]
    assert "rolled" in prod[-1].classes and "current" in prod[-1].classes
    assert "2026-03-06T09:00:00Z" in prod[2].find("title").text and "2026-03-08T09:00:00Z" in prod[2].find("title").text
    roll = clf.find("g", "roll")
    assert roll.attrs["data-version"] == "v1.1.0" and int(roll.attrs["data-t"]) == ts("2026-03-08")
    assert "p99 latency regression" in roll.find("title").text
    # The shadow lane: v1.2.0 from Mar 3, unassigned Mar 12, empty since.
    shadow = lane(clf, "shadow")
    assert [(g.attrs["data-version"], int(g.attrs["data-b"])) for g in shadow] == [("v1.2.0", ts("2026-03-12"))]
    unas = clf.find("g", "lane", data_stage="shadow").find("g", "unas")
    assert unas is not None and int(unas.attrs["data-t"]) == ts("2026-03-12")
    # "What was in production on March 1?" answered by the drawing itself.
    assert version_at_pixel(clf, "production", ts("2026-03-01")) == "v1.1.0"
    assert version_at_pixel(clf, "production", ts("2026-02-10")) == "v1.0.0"
    assert version_at_pixel(clf, "shadow", ts("2026-03-15")) is None

    # Metrics across versions: a point per version, the production one marked.
    chart = clf.find("figure", "chart", data_metric="accuracy")
    assert len(chart.find_all("circle")) == 3
    assert "v1.1.0" in chart.find("circle", "prod").find("title").text

    # The second model, declared in sub/dvc.yaml.
    other = section(dom, "sub:other")
    (row,) = visible_rows(other)
    assert row.attrs["data-version"] == "v1.0.0"
    assert "team=vision" in cells(row)[-2]
    assert row.find("button", "copy").attrs["data-copy"] == card_sha(p, "sub=other@v1.0.0", "sub/other.card.yaml")
    assert {h.attrs["data-stage"]: h.attrs["data-version"] for h in other.find_all("span", "holder")} == {"staging": "v1.0.0"}

    # Nothing moved: no warning.
    banner = dom.find("div", "banner")
    assert banner is not None and "warn" not in banner.classes

    shot = screenshot(page, tmp_path, tmp_path / "report.png")
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000

    # The question asked by a link: registry.html#at=2026-03-01 pins that moment on every timeline.
    asked = parse_dom(dump_dom(page, tmp_path, "#at=2026-03-01T12:00"))
    said = section(asked, "clf").find("output", "at-out")
    assert said.text == "→ staging: v1.1.0 · production: v1.1.0 · shadow: —"
    assert int(said.attrs["data-t"]) == ts("2026-03-01T12:00")
    assert section(asked, "sub:other").find("output", "at-out").text.startswith("→ staging: v1.0.0")


def test_report_one_model_and_bad_model(registry_project, tmp_path):
    p = registry_project
    page = tmp_path / "one.html"
    assert "1 model(s), 1 version(s)" in render(p, page, "--model", "sub:other")
    assert 'data-model="clf"' not in page.read_text()
    assert_one_line_error(p.wo("report", "-o", str(tmp_path / "x.html"), "--model", "nope"), 3, "nope")
    assert_one_line_error(p.wo("report", "-o", str(tmp_path / "x.html"), "--model", "../bad"), 2)
    assert not (tmp_path / "x.html").exists()
    # A bare clone (a CI runner's or a server's) reads the same registry.
    bare = tmp_path / "bare.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(p.root), str(bare)], check=True)
    assert "2 model(s), 4 version(s)" in p.wo("report", "-o", str(tmp_path / "bare.html"), "--repo", str(bare),
                                              check=True).stdout
    skipped = tmp_path / "skipped.html"
    assert "audit: skipped" in render(p, skipped, "--no-audit")
    assert parse_dom(skipped.read_text()).find("div", "banner").attrs["data-state"] == "skipped"
    assert_one_line_error(p.wo("report", "-o", str(tmp_path)), 2, "folder")
    assert_one_line_error(p.wo("report", "--repo", str(tmp_path / "nowhere")), 3, "nowhere")


def test_findings_given_as_input_become_the_banner(registry_project, tmp_path):
    from weightops.review.report_page import write_report

    page = tmp_path / "given.html"
    data = write_report(page, registry_project.root, now=NOW,
                        findings=[("moved-tag", "v1.0.0", "v1.0.0 now points at 3a0c6b5a34, was e80626b5fc"),
                                  ("card-mismatch", "sub=other@v1.0.0", "card sha256 differs from the bytes")])
    assert data.audit_ran and len(data.findings) == 2
    dom = parse_dom(page.read_text())   # the banner is in the static HTML, no script needed
    banner = dom.find("div", "banner")
    assert "warn" in banner.classes and banner.attrs["data-count"] == "2"
    assert [li.attrs["data-tag"] for li in banner.find_all("li")] == ["v1.0.0", "sub=other@v1.0.0"]
    assert "flagged" in section(dom, "clf").find("tr", "vrow", data_version="v1.0.0").classes
    assert "flagged" in section(dom, "sub:other").find("tr", "vrow", data_version="v1.0.0").classes
    # A one-model page shows that model's findings only.
    one = write_report(tmp_path / "one.html", registry_project.root, now=NOW, model="sub:other",
                       findings=[("moved-tag", "v1.0.0", "moved"), ("card-mismatch", "sub=other@v1.0.0", "differs")])
    assert [f.tag for f in one.findings] == ["sub=other@v1.0.0"]


def test_moved_version_tag_shows_a_warning_banner(registry_project, tmp_path):
    p = registry_project
    # Someone force-moves a released version to another commit.
    p.git("tag", "-f", "-a", "v1.0.0", "-m", "oops", p.git("rev-parse", "v1.2.0^{commit}"),
          env={"GIT_COMMITTER_DATE": f"@{ts('2026-03-15')} +0000"})
    page = tmp_path / "moved.html"
    said = render(p, page)
    assert "audit:" in said and "finding" in said
    dom = parse_dom(dump_dom(page, tmp_path))
    banner = dom.find("div", "banner")
    assert "warn" in banner.classes and banner.attrs.get("role") == "alert" and banner.visible()
    assert "v1.0.0" in banner.text and "moved" in banner.text.lower()
    row = section(dom, "clf").find("tr", "vrow", data_version="v1.0.0")
    assert "flagged" in row.classes and "⚠" in row.text
    # The old assignments' commit holds no version now: the bars say what their tags recorded.
    first = lane(section(dom, "clf"), "production")[0]
    assert first.attrs["data-version"] == "" and first.attrs["data-label"] == "v1.0.0?"
    assert "v1.0.0?" in first.text and "moved" in first.find("title").text
    shot = screenshot(page, tmp_path, tmp_path / "report-moved.png", fragment="#at=2026-03-01T12:00")
    assert shot.stat().st_size > 20_000


def test_version_without_card_is_shown_not_fatal(registry_project, tmp_path):
    p = registry_project
    p.git("rm", "-q", "models/clf.card.yaml")
    p.git("commit", "-qm", "drop the card")
    p.git("tag", "v2.0.0-rc.1")   # plain git: nothing stops it
    page = tmp_path / "nocard.html"
    assert "5 version(s)" in render(p, page)
    row = parse_dom(page.read_text()).find("tr", "vrow", data_version="v2.0.0-rc.1")
    assert "no card" in row.text and row.find("button", "copy") is None
    assert "v2.0.0-rc.1" in row.text


def test_timeline_opens_on_a_window_where_the_recent_stage_is_seen(project, tmp_path):
    """Three years of history, then a promotion two days ago: the page opens on a recent window
    in which the bar of what holds production now is wide enough to read, not on "all", where
    it is a sliver."""
    from helpers import at

    now, year, day_s = ts("2026-03-20T12:00"), 365 * 86400, 86400
    project.release("v1.0.0", at=now - 3 * year)
    at(project, now - 3 * year + day_s, "promote", "v1.0.0", "production")
    project.train(epochs=40)
    project.release("v1.1.0", at=now - 2 * day_s - 60)
    at(project, now - 2 * day_s, "promote", "v1.1.0", "production")
    page = tmp_path / "recent.html"
    project.wo("report", "-o", str(page), "--no-audit", env={"WEIGHTOPS_NOW": str(now)}, check=True)
    sec = section(parse_dom(dump_dom(page, tmp_path)), "clf")
    on = [b.attrs["data-span"] for b in sec.find("div", "tl-tools").find_all("button") if "on" in b.classes]
    assert on != ["0"] and len(on) == 1, on
    svg = sec.find("svg", "timeline")
    shown = float(svg.attrs["data-b"]) - float(svg.attrs["data-a"])
    assert shown < year
    current = [g for g in lane(sec, "production") if g.visible() and "current" in g.classes]
    assert [g.attrs["data-version"] for g in current] == ["v1.1.0"]
    width = float(svg.attrs["viewbox"].split()[2]) - float(svg.attrs["data-gut"]) - float(svg.attrs["data-pad"])
    assert float(current[0].find("rect").attrs["width"]) >= 0.08 * width
    assert version_at_pixel(sec, "production", now - day_s) == "v1.1.0"
