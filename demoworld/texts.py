"""Feedback texts in four registers, built from the theme fragments in ``catalog.py``.

Support tickets read like e-mails (greeting, body, signature, sometimes a quoted earlier
reply), CRM notes like rep shorthand, ideas like portal posts (title + details) and calls
like a Gong brief with key points and, for some calls, a transcript of speaker turns in
which the customer raises two or three different themes. Seeded typos and some PII (e-mail
addresses, phone numbers) give the pipeline's normalisation and redaction real work.
The sentences and templates live in ``data/texts.yaml``; this module holds the logic that
draws from them (which parts, in which order, how often).
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

from demoworld.catalog import NOISE, THEME_BY_KEY, Theme
from demoworld.resources import load

VENDOR_NAME = "Brightwave"  # the demo's own SaaS company
VENDOR_DOMAIN = "brightwave.io"
TYPO_RATE = 0.02


@dataclass(frozen=True)
class Person:
    name: str
    email: str
    phone: str
    title: str

    @property
    def first(self) -> str:
        return self.name.split()[0]


@dataclass(frozen=True)
class Voice:
    """Who speaks in one record: the customer contact and our people."""

    company: str
    domain: str
    contact: Person
    rep: Person  # account executive / CSM
    agent: Person  # support agent


@dataclass(frozen=True)
class TicketText:
    subject: str
    body: str
    reply: str | None  # the agent's answer, when the ticket has one


@dataclass(frozen=True)
class NoteText:
    title: str
    body: str


@dataclass(frozen=True)
class IdeaText:
    title: str
    details: str


@dataclass(frozen=True)
class Turn:
    speaker: str
    internal: bool  # True for our people, False for the customer
    text: str


@dataclass(frozen=True)
class CallText:
    title: str
    call_type: str
    brief: str
    key_points: tuple[str, ...]
    turns: tuple[Turn, ...]  # empty when the call has no transcript


# ---------------------------------------------------------------------------- slots

_TEXTS = load("texts.yaml")
_SLOT_CHOICES: dict[str, tuple[str, ...]] = _TEXTS["slots"]
_PII_LINES: tuple[str, ...] = _TEXTS["pii_lines"]  # contact details left in the text
_TICKETS, _CHATS, _NOTES = _TEXTS["tickets"], _TEXTS["chats"], _TEXTS["notes"]
_IDEAS, _CALLS = _TEXTS["ideas"], _TEXTS["calls"]


class Slots(dict):
    """format_map() mapping that draws a missing slot from the seeded generator."""

    def __init__(self, rng: random.Random, **fixed: str) -> None:
        super().__init__(fixed)
        self._rng = rng

    def __missing__(self, key: str) -> str:
        choices = _SLOT_CHOICES.get(key)
        if choices is None:
            raise KeyError(f"unknown slot {{{key}}} in a demo text template")
        value = self._rng.choice(choices)
        self[key] = value  # one value per slot within a record keeps it coherent
        return value


def fill(template: str, slots: Slots) -> str:
    return template.format_map(slots)


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:] if text else text


def _lower_first(text: str) -> str:
    if len(text) > 1 and text[1].islower():
        return text[:1].lower() + text[1:]
    return text


# ---------------------------------------------------------------------------- typos

_WORD = re.compile(r"^[A-Za-z]{4,}$")


def add_typos(rng: random.Random, text: str, rate: float = TYPO_RATE) -> str:
    """Swap or drop a character in about `rate` of the plain words (never in e-mail
    addresses, numbers or names with digits), as people do when typing fast."""
    out: list[str] = []
    for token in re.split(r"(\s+)", text):
        core = token.rstrip(".,;:!?")
        if _WORD.match(core) and rng.random() < rate:
            i = rng.randrange(1, len(core) - 1)
            if rng.random() < 0.5:
                core = core[:i] + core[i + 1] + core[i] + core[i + 2:]
            else:
                core = core[:i] + core[i + 1:]
            token = core + token[len(token.rstrip(".,;:!?")):]
        out.append(token)
    return "".join(out)


# ---------------------------------------------------------------------------- pieces


def _theme(key: str) -> Theme:
    return THEME_BY_KEY[key]


def _ask(rng: random.Random, theme: Theme, slots: Slots) -> str:
    return fill(rng.choice(theme.asks), slots)


def _context(rng: random.Random, theme: Theme, slots: Slots) -> str:
    return fill(rng.choice(theme.contexts), slots)


def _impact(rng: random.Random, theme: Theme, slots: Slots) -> str:
    return fill(rng.choice(theme.impacts), slots)


def _topic(rng: random.Random, theme: Theme, slots: Slots) -> str:
    return fill(rng.choice(theme.topics), slots)


def request_paragraph(rng: random.Random, theme: Theme, slots: Slots) -> str:
    """Context / ask / impact in one of several orders, some parts optional."""
    ask = _ask(rng, theme, slots)
    parts = [ask]
    if rng.random() < 0.7:
        ctx = _context(rng, theme, slots)
        parts = [ctx, ask] if rng.random() < 0.6 else [ask, ctx]
    if rng.random() < 0.55:
        parts.append(_impact(rng, theme, slots))
    return " ".join(parts)


def signature(rng: random.Random, voice: Voice) -> str:
    c = voice.contact
    lines = [c.name]
    if rng.random() < 0.7:
        lines.append(f"{c.title} | {voice.company}")
    if rng.random() < 0.45:
        lines.append(f"{rng.choice(_TICKETS['phone_labels'])}: {c.phone}")
    if rng.random() < 0.3:
        lines.append(c.email)
    return "\n".join(lines)


# ---------------------------------------------------------------------------- tickets


def ticket_text(rng: random.Random, theme_key: str, voice: Voice, when: str) -> TicketText:
    """A customer's support ticket; `when` is a human date for a quoted earlier reply."""
    slots = Slots(rng, agent=voice.agent.first)
    if theme_key == NOISE:
        subject, para = _noise_ticket(rng, voice)
    else:
        theme = _theme(theme_key)
        subject = fill(rng.choice(_TICKETS["subjects"]),
                       Slots(rng, topic=_topic(rng, theme, slots)))
        opener = fill(rng.choice(_TICKETS["openers"]), slots)
        para = " ".join(p for p in (opener, request_paragraph(rng, theme, slots)) if p)
    body_parts = []
    greeting = fill(rng.choice(_TICKETS["greetings"]), slots)
    if greeting:
        body_parts.append(greeting)
    para = add_typos(rng, para)
    if rng.random() < 0.15:
        para += " " + _pii_line(rng, voice.contact)
    body_parts.append(para)
    body_parts.append(f"{rng.choice(_TICKETS['closers'])}\n{signature(rng, voice)}")
    reply = None
    if theme_key != NOISE and rng.random() < 0.35:
        reply = _agent_reply(rng, voice)
        if rng.random() < 0.5:  # the customer answered on top of our reply: quote it
            quoted = "\n".join(f"> {line}" for line in reply.split(". "))
            header = _TICKETS["quote_header"].format(
                when=when, agent=voice.agent.name, address=f"support@{VENDOR_DOMAIN}")
            body_parts.append(f"{header}\n{quoted}")
            if not subject.lower().startswith("re"):
                subject = f"Re: {subject}"
    return TicketText(_cap(subject), "\n\n".join(body_parts), reply)


def chat_text(rng: random.Random, theme_key: str, voice: Voice) -> TicketText:
    """An in-app messenger conversation opener: short, informal, no signature."""
    slots = Slots(rng)
    if theme_key == NOISE:
        _, para = _noise_ticket(rng, voice)
    else:
        theme = _theme(theme_key)
        para = _ask(rng, theme, slots)
        if rng.random() < 0.5:
            para += " " + _context(rng, theme, slots)
    opener = rng.choice(_CHATS["openers"])
    if opener and opener[-1].isalpha():
        para = _lower_first(para)
    body = add_typos(rng, f"{opener} {para}".strip(), TYPO_RATE * 1.5)
    if rng.random() < 0.12:
        body += " " + _pii_line(rng, voice.contact)
    reply = None
    if theme_key != NOISE and rng.random() < 0.6:
        reply = _agent_reply(rng, voice)
    return TicketText("", body, reply)


def _pii_line(rng: random.Random, contact: Person) -> str:
    return fill(rng.choice(_PII_LINES), Slots(rng, email=contact.email, phone=contact.phone))


def _agent_reply(rng: random.Random, voice: Voice) -> str:
    return fill(rng.choice(_TICKETS["agent_replies"]), Slots(rng, first=voice.contact.first))


def _noise_ticket(rng: random.Random, voice: Voice) -> tuple[str, str]:
    weekday = rng.choice(_SLOT_CHOICES["weekday"])  # drawn first, whichever ticket it is
    ticket = rng.choice(_TICKETS["noise"])
    return ticket["subject"], ticket["body"].format(weekday=weekday, phone=voice.contact.phone)


# ---------------------------------------------------------------------------- CRM notes


def note_text(
    rng: random.Random, theme_key: str, voice: Voice, also: str | None = None
) -> NoteText:
    """Rep shorthand on an account or deal; `also` adds a second theme in passing."""
    c = voice.contact
    slots = Slots(rng, cfirst=c.first, ctitle=c.title, cemail=c.email, company=voice.company)
    title = fill(rng.choice(_NOTES["titles"]), slots)
    if theme_key == NOISE:
        return NoteText(title, add_typos(rng, fill(rng.choice(_NOTES["noise"]), slots)))
    theme = _theme(theme_key)
    style = rng.random()
    if style < 0.6:
        body = fill(rng.choice(_NOTES["prefixes"]), slots) + fill(rng.choice(theme.crm), slots)
        body += "."
    elif style < 0.85:
        body = _NOTES["quote"].format(first=c.first, title=c.title, ask=_ask(rng, theme, slots))
    else:
        body = f"{fill(rng.choice(_NOTES['prefixes']), slots)}{_context(rng, theme, slots)}"
        body += f" {_cap(fill(rng.choice(theme.crm), slots))}."
    for _ in range(rng.choice((0, 1, 1, 2))):
        body += " " + fill(rng.choice(_NOTES["tails"]), slots)
    if also is not None:
        crm = fill(rng.choice(_theme(also).crm), slots)
        body += " " + _NOTES["also"].format(crm=crm)
    if rng.random() < 0.2:
        body += " " + rng.choice(_NOTES["contact_lines"]).format(phone=c.phone, email=c.email)
    return NoteText(title, add_typos(rng, _cap(body)))


# ---------------------------------------------------------------------------- ideas


def idea_text(rng: random.Random, theme_key: str, voice: Voice) -> IdeaText:
    slots = Slots(rng)
    if theme_key == NOISE:
        idea = rng.choice(_IDEAS["noise"])
        return IdeaText(idea["title"], idea["details"])
    theme = _theme(theme_key)
    raw_title = fill(rng.choice(theme.titles), slots)
    title = rng.choice(_IDEAS["title_forms"]).format(title=raw_title, lower=raw_title.lower())
    paras = [request_paragraph(rng, theme, slots)]
    if rng.random() < 0.3:
        context = _lower_first(_context(rng, theme, slots))
        paras.append(_IDEAS["use_case"].format(context=context))
    addon = fill(rng.choice(_IDEAS["addons"]), slots)
    if addon:
        paras.append(addon)
    return IdeaText(title, add_typos(rng, "\n\n".join(paras)))


# ---------------------------------------------------------------------------- calls


def call_text(
    rng: random.Random, theme_keys: list[str], voice: Voice, transcript: bool
) -> CallText:
    """A Gong-style call: title, brief, key points and optionally speaker turns."""
    c, rep = voice.contact, voice.rep
    call_type = rng.choice(_CALLS["types"])
    title = _CALLS["title"].format(company=voice.company, vendor=VENDOR_NAME, call_type=call_type)
    slots = Slots(rng)
    if theme_keys == [NOISE]:
        noise = _CALLS["noise"]
        return CallText(title, call_type, noise["brief"].format(name=c.name), noise["key_points"],
                        _smalltalk(rng, voice) if transcript else ())
    themes = [_theme(k) for k in theme_keys]
    topic_names = [_topic(rng, t, slots) for t in themes]
    topics = (", ".join(topic_names[:-1]) + " and " + topic_names[-1]
              if len(topic_names) > 1 else topic_names[0])
    note = _CALLS["brief_note"].format(context=_lower_first(_context(rng, themes[0], slots)))
    brief = fill(rng.choice(_CALLS["brief_forms"]), Slots(
        rng, cname=c.name, ctitle=c.title, rep=rep.first, topics=topics, note=note))
    points = tuple(
        _CALLS["key_point"].format(topic=_cap(name), crm=fill(rng.choice(t.crm), slots))
        for t, name in zip(themes, topic_names, strict=True)
    )
    turns: tuple[Turn, ...] = ()
    if transcript:
        turns = _conversation(rng, themes, voice, slots)
    return CallText(title, call_type, brief, points, turns)


def _conversation(rng: random.Random, themes: list[Theme], voice: Voice,
                  slots: Slots) -> tuple[Turn, ...]:
    c, rep = voice.contact, voice.rep
    turns = [
        Turn(rep.name, True, _CALLS["opening"].format(first=c.first)),
        Turn(c.name, False, rng.choice(_CALLS["opening_replies"])),
    ]
    for i, theme in enumerate(themes):
        lead = rng.choice(_CALLS["raise"] if i else _CALLS["raise_first"])
        ask = _ask(rng, theme, slots)
        turns.append(Turn(c.name, False, lead + (_lower_first(ask) if lead else ask)
                          + " " + _context(rng, theme, slots)))
        answer = rng.choice(_CALLS["rep_answers"])
        turns.append(Turn(rep.name, True, answer))
        if answer.endswith("?") or rng.random() < 0.5:
            reply = _impact(rng, theme, slots)
        else:
            reply = rng.choice(_CALLS["customer_followups"])
        turns.append(Turn(c.name, False, reply))
    turns.append(Turn(rep.name, True, fill(_CALLS["recap"], slots)))
    turns.append(Turn(c.name, False, _CALLS["goodbye"]))
    return tuple(turns)


def _smalltalk(rng: random.Random, voice: Voice) -> tuple[Turn, ...]:
    c, rep = voice.contact, voice.rep
    day = rng.choice(_SLOT_CHOICES["weekday"])
    speakers = {"rep": (rep.name, True), "customer": (c.name, False)}
    return tuple(Turn(*speakers[who], text.format(first=c.first, day=day))
                 for who, text in _CALLS["noise"]["turns"])
