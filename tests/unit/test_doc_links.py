"""The README and docs/ link only to what exists: files by relative path, headings by GitHub's anchors.

A moved section leaves links behind (`README.md#scaling`, `bench/...` from docs/); these
tests read every Markdown link outside code and check it against the tree, and that the
README's table of contents lists every section.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
LINK = re.compile(r"!?\[([^\]]*)\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
FENCE = re.compile(r"^\s*(```|~~~)")


def prose_lines(text: str) -> list[str]:
    """The lines outside fenced code blocks (a `# comment` in a code block is no heading)."""
    out, fenced = [], False
    for line in text.splitlines():
        if FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            out.append(line)
    return out


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: link text kept, lowercase, punctuation removed, spaces to '-'."""
    text = LINK.sub(lambda m: m.group(1), heading).strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def headings(path: Path) -> list[tuple[int, str]]:
    return [(len(m.group(1)), m.group(2)) for line in prose_lines(path.read_text())
            if (m := HEADING.match(line))]


def anchors(path: Path) -> set[str]:
    """Every heading's anchor; a repeated one gets -1, -2, ... as on GitHub."""
    seen: dict[str, int] = {}
    out = set()
    for _, text in headings(path):
        base = slug(text)
        n = seen.get(base, 0)
        seen[base] = n + 1
        out.add(base if n == 0 else f"{base}-{n}")
    return out


def links(path: Path) -> list[str]:
    targets = []
    for line in prose_lines(path.read_text()):
        line = re.sub(r"`[^`]*`", "", line)  # a link-like text in inline code is code
        targets += [m.group(2) for m in LINK.finditer(line)]
    return targets


def broken(page: Path) -> list[str]:
    problems = []
    for target in links(page):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # https:, mailto:
            continue
        file, _, anchor = target.partition("#")
        dest = (page.parent / file).resolve() if file else page
        if REPO not in dest.parents and dest != REPO:
            problems.append(f"{target}: outside the repository")
        elif not dest.exists():
            problems.append(f"{target}: no such file")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            problems.append(f"{target}: no heading with that anchor in {dest.relative_to(REPO)}")
    return problems


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(REPO)))
def test_every_relative_link_points_at_a_file_and_heading_that_exist(page):
    assert broken(page) == []


def test_docs_has_an_index_linking_each_page():
    index = REPO / "docs" / "README.md"
    listed = {(index.parent / t.partition("#")[0]).resolve() for t in links(index)}
    assert {p for p in PAGES if p.parent.name == "docs" and p != index} <= listed


def toc_targets() -> list[str]:
    """The links of the README's `## Contents` section."""
    text = (REPO / "README.md").read_text()
    assert "\n## Contents\n" in text, "README.md has no '## Contents' section"
    section = text.split("\n## Contents\n", 1)[1].split("\n## ", 1)[0]
    return [m.group(2) for m in LINK.finditer(section)]


def test_the_readme_contents_link_every_section_and_nothing_else():
    readme = REPO / "README.md"
    toc = [t for t in toc_targets() if t.startswith("#")]
    assert {t[1:] for t in toc} - anchors(readme) == set()
    sections = [slug(text) for level, text in headings(readme) if level == 2 and text != "Contents"]
    assert [s for s in sections if f"#{s}" not in toc] == []


@pytest.mark.parametrize("heading, anchor", [
    ("fab -H: a single-host task on the hosts you name", "fab--h-a-single-host-task-on-the-hosts-you-name"),
    ("Hosts without systemd, cgroup v1, and kernels with everything built in",
     "hosts-without-systemd-cgroup-v1-and-kernels-with-everything-built-in"),
    ("Day-2 operations", "day-2-operations"),
    ("`settings` and `--json`", "settings-and---json"),
    ("Tests, and what is tested where", "tests-and-what-is-tested-where"),
])
def test_anchors_follow_githubs_rules(heading, anchor):
    assert slug(heading) == anchor


def test_a_broken_link_and_a_missing_anchor_are_caught(tmp_path, monkeypatch):
    monkeypatch.setattr(sys.modules[__name__], "REPO", tmp_path)
    (tmp_path / "docs").mkdir()
    page = tmp_path / "docs" / "x.md"
    page.write_text("# Title\n\n[ok](#title) [gone](bench/plot.png) [no](../README.md#nowhere)\n"
                    "```\n[in code](nowhere.md)\n```\n")
    (tmp_path / "README.md").write_text("# u7s\n\n## Somewhere\n")
    assert broken(page) == ["bench/plot.png: no such file",
                            "../README.md#nowhere: no heading with that anchor in README.md"]


def test_the_source_archive_carries_the_docs_the_readme_links_to():
    try:
        import tomllib  # novermin (the fallback below is for 3.9 and 3.10)
    except ImportError:  # Python 3.9 and 3.10
        import tomli as tomllib
    include = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["hatch"]["build"]["targets"]["sdist"]["include"]
    assert "README.md" in include and "docs" in include
