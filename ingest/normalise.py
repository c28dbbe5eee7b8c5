"""Feedback text clean-up: HTML -> text, quoted replies and signatures out, tidy whitespace.

Pure functions. The consumer runs `normalise_text` on every record (10,000+/s on two
cores), so the expensive step (BeautifulSoup) only runs on text that looks like HTML and
every other step is a precompiled regex guarded by a cheap substring check.
"""

from __future__ import annotations

import html as htmllib
import re

from bs4 import BeautifulSoup, Comment, Tag

# ---------------------------------------------------------------------------- HTML

# '<' followed by a tag name (or a comment/doctype): "a < b" and "<3" stay plain text.
_LOOKS_HTML = re.compile(r"<(?:/?[A-Za-z][A-Za-z0-9:-]*(?:\s[^<>]*)?/?>|!--|!doctype)", re.I)
_ENTITY = re.compile(r"&(?:#\d{1,7}|#x[0-9A-Fa-f]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});")

_DROP_TAGS = ("script", "style", "head", "noscript", "template", "title", "svg")
# Tags that start a new line in rendered text; paragraphs also leave a blank line.
_LINE_TAGS = (
    "div", "tr", "li", "dt", "dd", "h1", "h2", "h3", "h4", "h5", "h6", "pre", "table",
    "ul", "ol", "section", "article", "header", "footer", "address", "hr", "figure",
)
_PARA_TAGS = ("p", "blockquote", "h1", "h2", "h3")
_LINE_MARK, _PARA_MARK = "\x1e", "\x1d"
_MARK_RUN = re.compile(r"[ \t\n\x1d\x1e]*[\x1d\x1e][ \t\n\x1d\x1e]*")


def looks_like_html(text: str) -> bool:
    return "<" in text and _LOOKS_HTML.search(text) is not None


def _is_quote_container(tag) -> bool:  # type: ignore[no-untyped-def]
    # Mail clients mark the quoted thread: Gmail (class gmail_quote), Apple/Thunderbird
    # (<blockquote type="cite">), Outlook (#divRplyFwdMsg ... followed by the old mail).
    classes = tag.get("class") or []
    return (
        tag.name == "blockquote" and tag.get("type") == "cite"
    ) or "gmail_quote" in classes or "yahoo_quoted" in classes


# Quoted threads nested deeper than this are flattened into their outermost rendered level:
# the quoted history is stripped anyway, and the cap bounds the work per mail.
MAX_QUOTE_DEPTH = 8


def _quote_containers(soup) -> list[tuple[int, Tag]]:  # type: ignore[no-untyped-def]
    """(depth, container) for every quote container, found in one iterative walk."""
    found: list[tuple[int, Tag]] = []
    stack: list[tuple[Tag, int]] = [(soup, 0)]
    while stack:
        node, depth = stack.pop()
        for child in node.contents:
            if isinstance(child, Tag):
                if _is_quote_container(child):
                    found.append((depth + 1, child))
                    stack.append((child, depth + 1))
                else:
                    stack.append((child, depth))
    return found


def _render(node) -> str:  # type: ignore[no-untyped-def]
    return normalise_whitespace(_MARK_RUN.sub(_resolve_marks, node.get_text()))


def html_to_text(html: str) -> str:
    """Render HTML to plain text: block elements become line breaks, <br> a newline, list
    items "- ", entities decoded, scripts/styles dropped. Quoted mail threads are rendered
    with "> " prefixes so `strip_quoted_reply` can remove them like plain-text quotes.

    Linear in the input: one parse, no recursion; nested quotes are rendered innermost
    first on the same tree (each level reads its children's text once), and levels beyond
    MAX_QUOTE_DEPTH are flattened into plain text."""
    soup = BeautifulSoup(html, "html.parser")
    for tag in soup.find_all(_DROP_TAGS):
        tag.decompose()
    for comment in soup.find_all(string=lambda s: isinstance(s, Comment)):
        comment.extract()
    quotes = _quote_containers(soup)
    for depth, quote in quotes:
        if depth == MAX_QUOTE_DEPTH + 1:  # the outermost too-deep level: plain text only
            quote.replace_with(quote.get_text(" "))
    for br in soup.find_all("br"):
        br.replace_with("\n")
    for li in soup.find_all("li"):
        li.insert(0, "- ")
    # Block edges become markers, resolved after get_text() so that nested blocks
    # (<ul><li>, <div><p>) give one line break, not a stack of blank lines. Quote
    # containers get none: they become their own "> " block below.
    for tag in soup.find_all(_PARA_TAGS):
        if not _is_quote_container(tag):
            tag.insert_before(_PARA_MARK)
            tag.insert_after(_PARA_MARK)
    for tag in soup.find_all(_LINE_TAGS):
        if not _is_quote_container(tag):
            tag.insert_before(_LINE_MARK)
            tag.insert_after(_LINE_MARK)
    for cell in soup.find_all(("td", "th")):
        cell.insert_after(" ")
    for _, quote in sorted(
        (q for q in quotes if q[0] <= MAX_QUOTE_DEPTH), key=lambda q: q[0], reverse=True
    ):
        quoted = _render(quote)
        quote.replace_with("\n" + "\n".join("> " + ln for ln in quoted.splitlines()) + "\n")
    return _render(soup)


def _resolve_marks(m: re.Match[str]) -> str:
    run = m.group()
    return "\n\n" if _PARA_MARK in run or run.count("\n") > 1 else "\n"


# ---------------------------------------------------------------------------- whitespace

_NEWLINES = re.compile(r"\r\n?|[\u2028\u2029\x0b\x0c\x85]")
_INVISIBLE = re.compile(r"[\u200b\u200c\u200d\u2060\ufeff\u00ad]")
_EXOTIC_SPACES = re.compile(r"[\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000]")
_MULTI_SPACE = re.compile(r" {2,}")
_EDGE_SPACES = re.compile(r" +\n *|\n +")
_BLANK_RUNS = re.compile(r"\n{3,}")


def normalise_whitespace(text: str) -> str:
    """One newline style, no invisible characters, single spaces, at most one blank line."""
    # Each regex is guarded by a substring test: `in` runs at memchr speed, while a
    # regex pass costs tens of ns per character even when it changes nothing.
    if not text.isascii():
        text = _NEWLINES.sub("\n", text)
        text = _INVISIBLE.sub("", text)
        text = _EXOTIC_SPACES.sub(" ", text)
    elif "\r" in text or "\x0b" in text or "\x0c" in text:
        text = _NEWLINES.sub("\n", text)
    if "\t" in text:
        text = text.replace("\t", " ")
    if "  " in text:
        text = _MULTI_SPACE.sub(" ", text)
    if " \n" in text or "\n " in text:
        text = _EDGE_SPACES.sub("\n", text)
    if "\n\n\n" in text:
        text = _BLANK_RUNS.sub("\n\n", text)
    return text.strip()


# ---------------------------------------------------------------------------- quoted replies

# Headers that introduce the previous mail in a thread; everything from them on is old.
_REPLY_HEADER = re.compile(
    r"^(?:"
    r"On\b[^\n]{0,200}(?:\n[^\n]{0,200})?\bwrote:"  # Gmail/Apple, may wrap onto 2 lines
    r"|Am\b[^\n]{0,200}(?:\n[^\n]{0,200})?\bschrieb[^\n]{0,60}:"  # German clients
    r"|Le\b[^\n]{0,200}(?:\n[^\n]{0,200})?\ba écrit\s?:"  # French clients
    r"|-{2,}\s*(?:Original Message|Forwarded message)\s*-{2,}"  # Outlook, Gmail forward
    r"|_{10,}\s*\n\s*From:"  # Outlook's underscore rule before the header block
    r"|\*?From:\*?\s[^\n]+\n(?:[^\n]*\n){0,2}?\*?(?:Sent|Date):\*?\s"  # Outlook header block
    r")",
    re.M | re.I,
)
_QUOTE_LINE = re.compile(r"^[ \t]*>[^\n]*(?:\n|$)", re.M)


def _has_reply_hint(t: str) -> bool:
    """Cheap gate for _REPLY_HEADER: one of its literal words is in the text. Chained `in`
    tests, not any() over a tuple: the generator alone cost ~1 us per record."""
    return (
        "wrote:" in t or "schrieb" in t or "écrit" in t or "Original Message" in t
        or "Forwarded message" in t or "From:" in t or "FROM:" in t or "from:" in t
    )


def strip_quoted_reply(text: str) -> str:
    """Keep the new part of an e-mail: drop "> " lines and everything from a reply header
    ("On <date>, X wrote:", "-----Original Message-----", "From: .. Sent: ..") on. When
    nothing new is left (a plain forward) the text is returned unchanged."""
    out = text
    if _has_reply_hint(out):
        m = _REPLY_HEADER.search(out)
        if m:
            out = out[: m.start()]
    if ">" in out:
        out = _QUOTE_LINE.sub("", out)
    out = out.rstrip()
    return out if out.strip() else text


# ---------------------------------------------------------------------------- signatures

MAX_SIGNATURE_LINES = 6  # never strip more than this many trailing lines (plus the marker)

_SIG_DELIMITER = re.compile(r"^(?:--|—|__)\s*$")
_MOBILE_FOOTER = re.compile(
    r"^(?:Sent from (?:my )?(?:iPhone|iPad|Android|Samsung|BlackBerry|mobile|Mail for"
    r"|Outlook|Yahoo Mail)\b.*|Get Outlook for (?:iOS|Android).*"
    r"|Sent (?:via|with) (?:the )?\S+ (?:app|mobile).*)$",
    re.I,
)
_VALEDICTION = re.compile(
    r"^(?:(?:best|kind|warm|warmest|many|with)?\s*(?:regards|wishes)"
    r"|thanks(?: (?:and|&) regards| again| so much| in advance)?|thank you|many thanks"
    r"|cheers|best|sincerely|yours(?: truly| sincerely)?|all the best|talk soon|br|mfg"
    r"|viele grüße|mit freundlichen grüßen|cordialement)\s*[,.!]*\s*$",
    re.I,
)
_SIG_LINE_MAX_CHARS = 80  # signature lines are short: name, title, company, phone
# Lines that read as content, not as a name/title/phone: bullets, questions, headings.
_CONTENT_LINE = re.compile(r"^(?:[-*•]\s|\d+[.)]\s)|[?:]$")


def strip_signature(text: str) -> str:
    """Drop a trailing signature: "-- " block, "Sent from my iPhone", or a valediction
    ("Best regards,") followed by short name/title lines. Conservative: looks only at the
    last MAX_SIGNATURE_LINES + 1 lines and never returns an empty text."""
    # rsplit keeps everything before the trailing window as one untouched chunk (lines[0]).
    lines = text.rstrip().rsplit("\n", MAX_SIGNATURE_LINES + 3)
    # Mobile footers first: they often follow the real signature block.
    while len(lines) > 1 and _MOBILE_FOOTER.match(lines[-1].strip()):
        lines.pop()
        while len(lines) > 1 and not lines[-1].strip():
            lines.pop()
    window_start = max(1, len(lines) - MAX_SIGNATURE_LINES - 1)
    for i in range(window_start, len(lines)):
        line = lines[i].strip()
        if _SIG_DELIMITER.match(line) or (
            _VALEDICTION.match(line) and _looks_like_signature(lines[i + 1:])
        ):
            kept = "\n".join(lines[:i]).rstrip()
            if kept.strip():
                return kept
            break
    return "\n".join(lines)


def _looks_like_signature(lines: list[str]) -> bool:
    """Short name/title/contact lines with at most one blank line in between."""
    blanks = sum(1 for ln in lines if not ln.strip())
    return blanks <= 1 and all(
        len(ln.strip()) <= _SIG_LINE_MAX_CHARS and not _CONTENT_LINE.search(ln.strip())
        for ln in lines if ln.strip()
    )


# ---------------------------------------------------------------------------- all together


def normalise_text(text: str, *, html: bool | None = None) -> str:
    """HTML (detected when `html` is None) -> text, entities decoded, quoted replies and
    signature removed, whitespace tidied. Idempotent on its own output."""
    if not text:
        return ""
    if html is None:
        html = looks_like_html(text)
    if html:
        text = html_to_text(text)
    elif "&" in text and _ENTITY.search(text):
        text = htmllib.unescape(text)
    text = normalise_whitespace(text)
    if "\n" not in text:
        # One line: it is already tidy, and a quoted reply or a signature needs lines of
        # its own to be cut (a line that is all quote or all header leaves nothing new,
        # and then the text is kept as it is), so the two passes below would return it
        # unchanged.
        return text
    text = strip_quoted_reply(text)
    text = strip_signature(text)
    return normalise_whitespace(text)
