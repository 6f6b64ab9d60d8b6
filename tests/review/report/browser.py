"""Headless Chromium, to look at the page the way a person does: the DOM after the page's
script ran, and a screenshot. Plus a tiny DOM to query the result."""

from __future__ import annotations

import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from needs import require_tool


# ---------------------------------------------------------------- headless Chromium
def chromium() -> str:
    return require_tool("chromium", "the report's browser test; Debian: apt-get install chromium",
                        "chromium-browser")


def _chromium_args(exe: str, tmp: Path) -> list[str]:
    profile = tmp / "chromium-profile"
    profile.mkdir(parents=True, exist_ok=True)
    return [exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-extensions",
            "--disable-dev-shm-usage", f"--user-data-dir={profile}"]


def dump_dom(page: Path, tmp: Path, fragment: str = "") -> str:
    """The DOM after the page's script ran, as Chromium serializes it."""
    exe = chromium()
    proc = subprocess.run([*_chromium_args(exe, tmp), "--virtual-time-budget=3000", "--dump-dom",
                           page.as_uri() + fragment],
                          capture_output=True, text=True, timeout=120)
    # An installed Chromium that crashes is a failure, never a skip.
    if proc.returncode != 0 or not proc.stdout.strip():
        pytest.fail(f"Chromium exited {proc.returncode} on {page.name}: {proc.stderr.strip()[-800:]}", pytrace=False)
    return proc.stdout


def screenshot(page: Path, tmp: Path, out: Path, size: str = "1400,1000", fragment: str = "") -> Path:
    exe = chromium()
    proc = subprocess.run([*_chromium_args(exe, tmp), "--hide-scrollbars", f"--window-size={size}",
                           f"--screenshot={out}", page.as_uri() + fragment], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and out.is_file(), f"Chromium exited {proc.returncode}, no screenshot: {proc.stderr[-500:]}"
    return out


# ---------------------------------------------------------------- a tiny DOM to query
class Node:
    def __init__(self, tag: str, attrs: dict, parent: "Node | None") -> None:
        self.tag, self.attrs, self.parent, self.children, self.parts = tag, attrs, parent, [], []

    @property
    def text(self) -> str:
        return "".join(c if isinstance(c, str) else c.text for c in self.children)

    @property
    def classes(self) -> set[str]:
        return set((self.attrs.get("class") or "").split())

    def iter(self):
        for c in self.children:
            if isinstance(c, Node):
                yield c
                yield from c.iter()

    def find_all(self, tag: str | None = None, cls: str | None = None, **attrs: str) -> list["Node"]:
        return [n for n in self.iter() if (tag is None or n.tag == tag) and (cls is None or cls in n.classes)
                and all(n.attrs.get(k.replace("_", "-")) == v for k, v in attrs.items())]

    def find(self, tag: str | None = None, cls: str | None = None, **attrs: str) -> "Node | None":
        found = self.find_all(tag, cls, **attrs)
        return found[0] if found else None

    def visible(self) -> bool:
        n = self
        while n is not None:
            if "hidden" in n.attrs or "display: none" in (n.attrs.get("style") or ""):
                return False
            n = n.parent
        return True


VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


class _Builder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = self.cur = Node("#root", {}, None)

    def handle_starttag(self, tag, attrs):
        node = Node(tag, {k: (v if v is not None else "") for k, v in attrs}, self.cur)
        self.cur.children.append(node)
        if tag not in VOID:
            self.cur = node

    def handle_startendtag(self, tag, attrs):
        self.cur.children.append(Node(tag, {k: (v if v is not None else "") for k, v in attrs}, self.cur))

    def handle_endtag(self, tag):
        n = self.cur
        while n is not None and n.tag != tag:
            n = n.parent
        if n is not None and n.parent is not None:
            self.cur = n.parent

    def handle_data(self, data):
        self.cur.children.append(data)


def parse_dom(text: str) -> Node:
    b = _Builder()
    b.feed(text)
    return b.root
