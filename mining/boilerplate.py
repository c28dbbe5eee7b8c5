"""Strip what every report of a kind shares before a text is embedded or indexed for search.

Long, templated reports ("Steps to reproduce / Actual results / Expected results", a
user-agent line, a build id, a signature, the quoted earlier thread) look alike to a sentence
embedding and to a word index whatever they ask for: the template outweighs the request.
`strip_boilerplate` keeps the words a person wrote about this record and drops:

- quoted earlier messages: lines starting with ">", everything after an "On <date>, <who>
  wrote:" header, an "-----Original Message-----" line or an e-mail "From: ... Sent:" block;
- signatures: everything after a "--" line, or after a sign-off line ("Thanks,", "Best
  regards,") near the end;
- environment lines: "User-Agent:", "Build ID:", "Browser:", "OS:", "Reproducible:" and the
  like, and bare browser user-agent strings;
- template headings ("Steps to reproduce:", "Actual results:", "Expected results:") and
  greeting lines ("Hi team,"), whose content lines are kept;
- contact lines: phone numbers, e-mail addresses, redaction placeholders on their own.

Pure text in, text out; when nothing is left the original text is returned, so a record
that is all template is still searchable.
"""

from __future__ import annotations

import re

_QUOTE_HEADER = re.compile(
    r"^\s*(?:on\s.{3,80}\bwrote:\s*$|-{2,}\s*original message\s*-{2,}|"
    r"-{2,}\s*forwarded message\s*-{2,}|from:\s.+$)", re.IGNORECASE)
_SIGNATURE_DELIM = re.compile(r"^\s*--\s*$")
_SIGN_OFF = re.compile(
    r"^\s*(?:(?:many |kind |best |warm )?(?:thanks|regards|wishes)(?: again| so much| in "
    r"advance)?|thank you(?: in advance)?|best|cheers|sincerely|br|rgds|ta)\s*[,.!]?\s*$",
    re.IGNORECASE)
_SIGN_OFF_TAIL_LINES = 12  # a sign-off this near the end starts the signature
_ENV_LINE = re.compile(
    r"^\s*(?:user[- ]?agent|build(?:\s*id)?|browser|os|platform|version|app version|"
    r"reproducible|reproducibility|severity|priority|component|environment|device|"
    r"screen resolution|locale|timezone|ticket|case|ref(?:erence)?)\s*(?:#|no\.?)?\s*:",
    re.IGNORECASE)
_USER_AGENT = re.compile(r"\b(?:Mozilla|AppleWebKit|Gecko|Chrome|Safari)/\d")
_HEADING = re.compile(
    r"^\s*(?:#+\s*)?(?:steps to reproduce|actual(?: results?| behaviou?r)?|"
    r"expected(?: results?| behaviou?r)?|additional (?:information|info|details)|"
    r"description|summary|details|notes?|impact|workaround)\s*:\s*", re.IGNORECASE)
# a greeting line: the word and at most three more ("Hello Brightwave team,"), so that
# "Hey, can you add dark mode" stays
_GREETING = re.compile(
    r"^\s*(?:hi|hello|hey|dear|good (?:morning|afternoon|evening)|greetings)\b"
    r"(?:[\s,]+[\w.&'-]+){0,3}\s*[,!:.]?\s*$", re.IGNORECASE)
_CONTACT = re.compile(
    r"^\s*(?:(?:[a-z]{1,6}|phone|mobile|tel|email|e-mail)\s*:\s*)?"
    r"(?:\+?[\d ()./-]{7,}|\S+@\S+|\[(?:EMAIL|PHONE)\])\s*$", re.IGNORECASE)


def _cut_quoted(lines: list[str]) -> list[str]:
    out = []
    for line in lines:
        if _QUOTE_HEADER.match(line):
            break
        if not line.lstrip().startswith(">"):
            out.append(line)
    return out


def _cut_signature(lines: list[str]) -> list[str]:
    for i, line in enumerate(lines):
        if _SIGNATURE_DELIM.match(line):
            return lines[:i]
    for i in range(max(0, len(lines) - _SIGN_OFF_TAIL_LINES), len(lines)):
        if _SIGN_OFF.match(lines[i]):
            return lines[:i]
    return lines


def _keep(line: str) -> str | None:
    if _ENV_LINE.match(line) or _USER_AGENT.search(line) or _CONTACT.match(line):
        return None
    if _GREETING.match(line):
        return None
    return _HEADING.sub("", line)


def strip_boilerplate(text: str) -> str:
    """The text without quoted threads, signatures, environment lines, template headings,
    greetings and contact lines (see the module docstring); the text itself if that empties it.
    """
    lines = _cut_signature(_cut_quoted(text.splitlines()))
    kept = [k for k in (_keep(line) for line in lines) if k and k.strip()]
    out = "\n".join(k.strip() for k in kept)
    return out if out.strip() else text.strip()
