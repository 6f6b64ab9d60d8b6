"""The report's pure parts: timeline intervals from tags, metrics, and HTML escaping."""

from __future__ import annotations

from weightops.core.refs import TagRef
from weightops.registry.state import Registry
from weightops.review.report import (Finding, ModelReport, ReportData, VersionRow, flatten_metrics, key_metrics,
                              timeline, to_finding)
from weightops.review.report_html import render

from .browser import parse_dom

A, B = "a" * 40, "b" * 40


def ref(name: str, commit: str, time: int, message: str = "") -> TagRef:
    return TagRef(name, commit, time, True, "Ops <ops@example.com>", message or f"{name}\n", "0" * 40)


def test_timeline_intervals_rollback_and_unassignment():
    reg = Registry([
        ref("v1.0.0", A, 100), ref("v1.1.0", B, 200),
        ref("m#production#1", A, 300), ref("m#staging#2", B, 350), ref("m#production#3", B, 400),
        ref("m#production#4", A, 500, "weightops roll back\n\nversion: v1.0.0\naction: rollback\n"),
        ref("m#production!#5", A, 600),
    ], default_model="m")
    segments, marks = timeline(reg, "m")
    prod = [(s.version, s.start, s.end, s.action, s.ended_by) for s in segments if s.stage == "production"]
    assert prod == [("v1.0.0", 300, 400, "assignment", "assignment"),
                    ("v1.1.0", 400, 500, "assignment", "rollback"),
                    ("v1.0.0", 500, 600, "rollback", "unassignment"),
                    ("v1.1.0", 600, None, "fallback", None)]   # GTO: v1.1.0 still carries the label
    staging = [(s.version, s.start, s.end) for s in segments if s.stage == "staging"]
    assert staging == [("v1.1.0", 350, None)]   # still holds it
    assert [(m.stage, m.action, m.version) for m in marks] == [
        ("production", "assignment", "v1.0.0"), ("staging", "assignment", "v1.1.0"),
        ("production", "assignment", "v1.1.0"), ("production", "rollback", "v1.0.0"),
        ("production", "unassignment", "v1.0.0")]


def test_timeline_follows_gto_labels_fallback_and_demote_sweep():
    C = "c" * 40
    refs = [ref("v1.0.0", A, 100), ref("v1.1.0", B, 200), ref("v1.2.0", C, 250),
            ref("m#production#1", A, 300), ref("m#production#2", B, 400),
            ref("m#production!#3", B, 500),                          # v1.1.0 unlabelled: v1.0.0 again
            ref("m#production#4", C, 600),
            ref("m#production!#5", C, 700), ref("m#production!#6", A, 701)]  # demote: v1.2.0, then v1.0.0
    reg = Registry(refs, default_model="m")
    segments, _ = timeline(reg, "m")
    got = [(s.version, s.start, s.end, s.action, s.ended_by) for s in segments]
    assert got == [("v1.0.0", 300, 400, "assignment", "assignment"),
                   ("v1.1.0", 400, 500, "assignment", "unassignment"),
                   ("v1.0.0", 500, 600, "fallback", "assignment"),
                   ("v1.2.0", 600, 700, "assignment", "unassignment")]   # the 1-second fallback is left out
    # The drawing agrees with the registry's own answer at every moment.
    for t in range(250, 800, 5):
        held = reg.stage_event("m", "production", at=t)
        drawn = [s.version for s in segments if s.start <= t and (s.end is None or t < s.end)]
        assert drawn == ([held.version] if held and not 700 <= t < 701 else []), t


def test_metrics_flatten_and_key_choice():
    assert flatten_metrics({"eval": {"acc": 0.9, "f1": 1}, "name": "x", "ok": True, "loss": 0.2,
                            "bad": float("nan"), "worse": float("inf")}) == \
        {"eval.acc": 0.9, "eval.f1": 1.0, "loss": 0.2}
    rows = [VersionRow("m", f"v1.0.{i}", f"v1.0.{i}", A, i, None, None, m, {}, ()) for i, m in enumerate(
        [{"acc": 1, "loss": 2}, {"acc": 1}, {"acc": 1, "rare": 3}])]
    assert key_metrics(rows) == ("acc", "loss", "rare")
    assert key_metrics(rows, ["loss"]) == ("loss",)


def test_findings_accept_tuples_and_objects():
    class Obj:
        kind, tag, message = "moved-tag", "v1.0.0", "moved"
    assert to_finding(("moved-tag", "v1.0.0", "moved")) == to_finding(Obj()) == Finding("moved-tag", "v1.0.0", "moved")


def test_strings_from_git_and_cards_are_escaped():
    evil = '<img src=x onerror=alert(1)>'
    row = VersionRow("m", "v1.0.0", "v1.0.0", A, 100, "f" * 64, 10, {"acc": 0.5}, {"team": evil, evil: "x"},
                     ("production",))
    model = ModelReport("m", (row,), {"production": ("v1.0.0", 100)}, ("production",), (), (), ("acc",))
    page = render(ReportData("</script><script>alert(2)</script>", 200, (model,),
                             (Finding("moved-tag", "v1.0.0", evil + "</script>"),), True))
    assert evil not in page and "alert(2)</script>" not in page.split("<style>")[0]
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
    dom = parse_dom(page)
    assert not dom.find_all("img")
    assert [s.text for s in dom.find_all("script")] and all("alert" not in s.text for s in dom.find_all("script"))


def test_empty_registry_says_how_to_start():
    page = render(ReportData("empty", 0, (), (), False))
    dom = parse_dom(page)
    assert "weightops release v1.0.0" in dom.find("p", "empty").text
    assert dom.find("div", "banner").attrs["data-state"] == "not-run"


def test_values_that_print_alike_draw_a_level_line_on_a_sane_axis():
    """Accuracy 1, 0.99999 and 1 all read `1`: the chart is level, and its axis does not say
    `1` at both ends."""
    from weightops.review.report_html import metric_svg

    rows = [VersionRow("m", f"v1.0.{i}", f"v1.0.{i}", A, i, None, None, {"acc": v}, {}, ())
            for i, v in enumerate([1, 0.99999, 1])]
    model = ModelReport("m", tuple(reversed(rows)), {}, (), (), (), ("acc",))
    svg = parse_dom(metric_svg("acc", rows, model))
    ys = {float(pt.split(",")[1]) for pt in svg.find("polyline").attrs["points"].split()}
    assert len(ys) == 1                                   # level, not falling
    labels = [t.text for t in svg.find_all("text", "cy")]
    assert labels == ["1.05", "0.95"]                     # an axis around the value, not 1..1
    # values that differ where the labels show it still draw a slope
    rows[1] = VersionRow("m", "v1.0.1", "v1.0.1", A, 1, None, None, {"acc": 0.9}, {}, ())
    sloped = parse_dom(metric_svg("acc", rows, model))
    assert len({float(pt.split(",")[1]) for pt in sloped.find("polyline").attrs["points"].split()}) == 2


def test_audit_banner_names_each_tag_once():
    row = VersionRow("m", "v1.0.0", "m@v1.0.0", A, 100, "f" * 64, 10, {}, {}, ())
    model = ModelReport("m", (row,), {}, (), (), (), ())
    page = render(ReportData("t", 200, (model,), (
        Finding("moved-tag", "m@v1.0.0", "m@v1.0.0 points at 3a0c6b5a34 but m#prod#1 recorded e80626b5fc"),
        Finding("damaged-object", "v2.0.0", "v2.0.0: object /r/ab/cd in DVC remote 'storage' is not the released bytes")),
        True))
    items = parse_dom(page).find("div", "banner").find_all("li")
    assert [li.text.count("m@v1.0.0") for li in items[:1]] == [1] and items[1].text.count("v2.0.0") == 1
    assert "points at 3a0c6b5a34" in items[0].text and "object /r/ab/cd" in items[1].text
