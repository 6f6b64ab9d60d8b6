"""A long registry (built in bulk with git fast-import, as the benchmark does) stays readable:
25 rows a page, the timeline opened on a recent window, a page of bounded size."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from helpers import run_cli

from .browser import dump_dom, parse_dom

ROOT = Path(__file__).resolve().parents[3]


def _bench():
    spec = importlib.util.spec_from_file_location("report_scale", ROOT / "benchmarks" / "report_scale.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_long_registry_is_paginated_and_zoomed(tmp_path):
    bench = _bench()
    repo = tmp_path / "repo"
    info = bench.build(repo, versions=300, assignments=1500)
    page = tmp_path / "big.html"
    # How long it takes is benchmarks/report_scale.py's to measure (against `weightops list`).
    proc = run_cli(["report", "-o", str(page), "--repo", str(repo)], cwd=tmp_path,
                   env={**os.environ, "WEIGHTOPS_NOW": str(info["now"])}, check=True)
    assert "1 model(s), 300 version(s)" in proc.stdout
    assert page.stat().st_size < 1_500_000

    dom = parse_dom(dump_dom(page, tmp_path))
    sec = dom.find("section", "model", data_model="m")
    rows = [r for r in sec.find_all("tr", "vrow") if r.visible()]
    assert len(rows) == 25 and len(sec.find_all("tr", "vrow")) == 300
    assert rows[0].attrs["data-version"] == bench.version_name(299)   # newest first
    assert sec.find("span", "pager-info").text == "1–25 of 300 versions"
    assert sec.find("div", "pager").visible()
    # 1,500 assignments over 75 days: the timeline opens on a recent window, older bars hidden.
    segs = sec.find_all("g", "seg")
    shown = [g for g in segs if g.visible()]
    assert 0 < len(shown) < len(segs)
    assert min(int(g.attrs["data-b"]) for g in shown) > info["now"] - 31 * 86400
    assert sec.find("button", data_span="2592000") is not None
    on = [b for b in sec.find("div", "tl-tools").find_all("button") if "on" in b.classes]
    assert len(on) == 1 and on[0].attrs["data-span"] != "0"


def test_timeline_agrees_with_the_registry_at_every_sampled_moment(tmp_path):
    """The bars are what `weightops resolve STAGE --at T` answers, over a long random history
    (rollbacks, unassignments falling back to older labels)."""
    import random

    from weightops.project import Project
    from weightops.review.report import timeline

    info = _bench().build(tmp_path / "repo", versions=200, assignments=1000, seed=7)
    registry = Project(tmp_path / "repo").registry()
    segments, marks = timeline(registry, "m")
    assert len(marks) == 1000
    rng = random.Random(3)
    for t in sorted(rng.randrange(info["now"] - 60 * 86400, info["now"]) for _ in range(300)):
        for stage in ("staging", "production", "shadow"):
            held = registry.stage_event("m", stage, at=t)
            drawn = [s.version for s in segments if s.stage == stage and s.start <= t and (s.end is None or t < s.end)]
            assert drawn == ([held.version] if held else []), (stage, t)


SELFTEST = """<script>
window.addEventListener("load", function () {
  var r = {}, sec = document.querySelector("section.model");
  var shown = function () { return [].filter.call(sec.querySelectorAll("tr.vrow"), function (x) { return !x.hidden; }); };
  sec.querySelector('.pager button[data-go="1"]').click();
  r.page2 = shown().map(function (x) { return x.dataset.version; });
  var f = sec.querySelector(".filter"); f.value = "v3.9.9"; f.dispatchEvent(new Event("input"));
  r.filtered = shown().map(function (x) { return x.dataset.version; });
  r.info = sec.querySelector(".pager-info").textContent;
  sec.querySelector('.tl-tools button[data-span="0"]').click();
  r.all = [].filter.call(sec.querySelectorAll("g.seg"), function (g) { return g.style.display !== "none"; }).length;
  r.total = sec.querySelectorAll("g.seg").length;
  var svg = sec.querySelector("svg.timeline"), rc = svg.getBoundingClientRect();
  svg.dispatchEvent(new MouseEvent("mousemove", {clientX: rc.left + rc.width * 0.6, clientY: rc.top + 40, bubbles: true}));
  r.tip = sec.querySelector(".tl-tip").textContent;
  r.tipHidden = sec.querySelector(".tl-tip").hidden;
  document.body.dataset.selftest = JSON.stringify(r);
});
</script></body>"""


def test_page_controls_work_in_the_browser(tmp_path):
    """Drive the page's own controls in Chromium: next page, filter, zoom out, hover probe."""
    import json

    bench = _bench()
    info = bench.build(tmp_path / "repo", versions=300, assignments=600)
    page = tmp_path / "page.html"
    run_cli(["report", "-o", str(page), "--repo", str(tmp_path / "repo"), "--no-audit"], cwd=tmp_path,
            env={**os.environ, "WEIGHTOPS_NOW": str(info["now"])}, check=True)
    driven = tmp_path / "driven.html"
    driven.write_text(page.read_text().replace("</body>", SELFTEST))
    r = json.loads(parse_dom(dump_dom(driven, tmp_path)).find("body").attrs["data-selftest"])
    assert r["page2"] == [bench.version_name(i) for i in range(274, 249, -1)]
    assert r["filtered"] == ["v3.9.9"] and r["info"] == "1–1 of 1 (filtered from 300)"
    assert r["all"] == r["total"] > 100          # zoomed out to "all": every bar drawn again
    assert r["tipHidden"] is False                # hovering names each stage's holder at that moment
    assert "UTC" in r["tip"] and all(f"{s}: " in r["tip"] for s in ("staging", "production", "shadow"))
