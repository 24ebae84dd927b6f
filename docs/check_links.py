#!/usr/bin/env python3
"""Checks the links of the documentation, offline.

Two views of the same pages:

- the Markdown, as GitHub renders it: every relative link and image in the
  given Markdown files (README.md, docs/src/**) must name a file or folder of
  the working tree, and every `#anchor` a heading of the page it points to
  (mdBook's `{{#include}}` directives are followed, and the file they name
  must exist). Links to this repository's own GitHub URLs
  (…/blob/main/PATH, …/tree/main/PATH, …/raw/main/PATH) are checked the
  same way against the working tree.
- the built book (--book DIR): every relative href and src of every page
  must name a file inside the book, and every #anchor an id of that page.

Other absolute URLs are not fetched. Prints each broken link as
FILE:LINE: TARGET: why, and exits 1 when there is one.
"""

import argparse
import html.parser
import pathlib
import re
import sys
import tomllib
import unicodedata
import urllib.parse

FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
HEADING = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.*?)[ \t#]*$")
EXPLICIT_ID = re.compile(r"\{#([^}\s]+)[^}]*\}\s*$")
INLINE_LINK = re.compile(
    r"!?\[(?:[^\[\]]|\[[^\[\]]*\])*\]\(\s*<?([^)\s>]*)>?(?:\s+(?:\"[^\"]*\"|'[^']*'|\([^)]*\)))?\s*\)"
)
REFERENCE_DEF = re.compile(r"^ {0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+.*)?$")
HTML_ATTR = re.compile(r"<(?:a|img)\b[^>]*?\b(?:href|src)\s*=\s*\"([^\"]*)\"", re.I)
INCLUDE = re.compile(r"\{\{#include\s+([^}\s:]+)(?::[^}]*)?\s*\}\}")
CODE_SPAN = re.compile(r"(`+)(.+?)\1")
SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")


def slug(text):
    """A heading's anchor as GitHub and mdBook make it: the text without its
    Markdown, lower-cased, letters, digits, `-` and `_` kept, spaces to `-`."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", text)
    text = CODE_SPAN.sub(lambda m: m.group(2), text)
    text = re.sub(r"<[^>]+>", "", text)
    out = []
    for ch in text.strip().lower():
        if ch.isalnum() or ch in "-_":
            out.append(ch)
        elif ch.isspace():
            out.append("-")
        elif unicodedata.category(ch).startswith("M"):
            out.append(ch)
    return "".join(out)


def prose_lines(text):
    """(line number, line) of the lines outside fenced code blocks."""
    fence = None
    for number, line in enumerate(text.splitlines(), 1):
        m = FENCE.match(line)
        if m:
            marker = m.group(1)
            if fence is None:
                fence = marker
                continue
            if marker[0] == fence[0] and len(marker) >= len(fence):
                fence = None
                continue
        if fence is None:
            yield number, line


def expanded(path, seen=()):
    """The page's text with its {{#include}} directives replaced."""
    text = path.read_text(encoding="utf-8")

    def include(m):
        target = (path.parent / m.group(1)).resolve()
        if target in seen or not target.is_file():
            return ""
        return expanded(target, seen + (target,))

    return INCLUDE.sub(include, text)


_anchors = {}


def anchors(path):
    """The anchors of a Markdown page's headings, duplicates numbered."""
    path = path.resolve()
    if path not in _anchors:
        found, counts = set(), {}
        for _, line in prose_lines(expanded(path)):
            m = HEADING.match(line)
            if not m:
                continue
            text = m.group(2)
            explicit = EXPLICIT_ID.search(text)
            if explicit:
                found.add(explicit.group(1))
                continue
            base = slug(text)
            n = counts.get(base, 0)
            counts[base] = n + 1
            found.add(base if n == 0 else f"{base}-{n}")
        _anchors[path] = found
    return _anchors[path]


def repo_url(root):
    """This repository's URL on GitHub, from Cargo.toml."""
    with open(root / "Cargo.toml", "rb") as f:
        manifest = tomllib.load(f)
    return manifest["workspace"]["package"]["repository"].rstrip("/")


def links(path):
    """(line number, target) of every link, image and include of a page."""
    for number, line in prose_lines(path.read_text(encoding="utf-8")):
        for m in INCLUDE.finditer(line):
            yield number, m.group(1), True
        bare = CODE_SPAN.sub("", line)
        for m in INLINE_LINK.finditer(bare):
            yield number, m.group(1), False
        m = REFERENCE_DEF.match(bare)
        if m:
            yield number, m.group(1), False
        for m in HTML_ATTR.finditer(bare):
            yield number, m.group(1), False


def check_markdown(root, files):
    repo = repo_url(root)
    prefixes = [f"{repo}/{kind}/main/" for kind in ("blob", "tree", "raw")]
    errors = []
    for page in files:
        for number, target, is_include in links(page):
            where = f"{page.relative_to(root)}:{number}: {target}"
            if is_include:
                if not (page.parent / target).is_file():
                    errors.append(f"{where}: the included file does not exist")
                continue
            url, _, fragment = target.partition("#")
            if url in (repo, repo + "/"):
                file = root / "README.md"
            elif any(url.startswith(p) for p in prefixes):
                relative = url.split("/main/", 1)[1]
                file = root / urllib.parse.unquote(relative)
            elif SCHEME.match(url) or url.startswith("//"):
                continue
            elif url == "":
                file = page
            elif url.startswith("/"):
                errors.append(f"{where}: a path from the site's root; write it relative to this page")
                continue
            else:
                file = page.parent / urllib.parse.unquote(url)
            if not file.exists():
                errors.append(f"{where}: no such file or folder")
            elif fragment and file.suffix == ".md" and fragment not in anchors(file):
                errors.append(f"{where}: no heading with anchor #{fragment} in {file.resolve().relative_to(root)}")
    return errors


class _Page(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.ids, self.refs = set(), []

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name in ("id", "name") and value:
                self.ids.add(value)
            if name in ("href", "src") and value is not None:
                self.refs.append((self.getpos()[0], value))


def check_book(book):
    book = book.resolve()
    pages = {}
    for page in book.rglob("*.html"):
        parsed = _Page()
        parsed.feed(page.read_text(encoding="utf-8"))
        pages[page] = parsed
    errors = []
    for page, parsed in pages.items():
        if page.name == "404.html":  # its links are absolute, for any page's URL
            continue
        for number, ref in parsed.refs:
            if SCHEME.match(ref) or ref.startswith("//"):
                continue
            url, _, fragment = ref.partition("#")
            url = url.split("?", 1)[0]
            target = (page.parent / urllib.parse.unquote(url)).resolve() if url else page
            where = f"book/{page.relative_to(book)}:{number}: {ref}"
            if target != book and book not in target.parents:
                errors.append(f"{where}: points outside the book (link to the repository's GitHub URL instead)")
            elif target.is_dir():
                if not (target / "index.html").is_file():
                    errors.append(f"{where}: a folder without index.html")
            elif not target.is_file():
                errors.append(f"{where}: no such file in the book")
            elif fragment and target in pages and urllib.parse.unquote(fragment) not in pages[target].ids:
                errors.append(f"{where}: no element with id {fragment}")
    return errors, len(pages)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=pathlib.Path, required=True, help="the working tree")
    parser.add_argument("--book", type=pathlib.Path, help="the built book, to check its HTML too")
    parser.add_argument("paths", nargs="+", type=pathlib.Path, help="Markdown files or folders")
    args = parser.parse_args()
    root = args.root.resolve()
    files = []
    for p in args.paths:
        p = (root / p).resolve()
        files.extend(sorted(p.rglob("*.md")) if p.is_dir() else [p])
    errors = check_markdown(root, files)
    pages = 0
    if args.book:
        book_errors, pages = check_book(args.book)
        errors += book_errors
    for e in errors:
        print(e, file=sys.stderr)
    checked = f"{len(files)} Markdown file(s)" + (f" and {pages} HTML page(s)" if args.book else "")
    if errors:
        print(f"{len(errors)} broken link(s) in {checked}", file=sys.stderr)
        return 1
    print(f"links: {checked} checked, none broken")
    return 0


if __name__ == "__main__":
    sys.exit(main())
