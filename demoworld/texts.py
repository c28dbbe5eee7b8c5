"""Feedback texts in four registers, built from the theme fragments in ``catalog.py``.

Support tickets read like e-mails (greeting, body, signature, sometimes a quoted earlier
reply), CRM notes like rep shorthand, ideas like portal posts (title + details) and calls
like a Gong brief with key points and, for some calls, a transcript of speaker turns in
which the customer raises two or three different themes. Seeded typos and some PII (e-mail
addresses, phone numbers) give the pipeline's normalisation and redaction real work.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

from demoworld.catalog import NOISE, THEME_BY_KEY, Theme

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

_SLOT_CHOICES: dict[str, tuple[str, ...]] = {
    "idp": ("Okta", "Azure AD", "Entra ID", "OneLogin", "Google Workspace", "Ping Identity"),
    "team": ("finance", "RevOps", "support", "customer success", "marketing ops", "IT", "sales",
             "legal", "procurement", "data", "operations", "security", "onboarding"),
    "n_users": ("25", "40", "60", "120", "150", "300", "450", "800", "1,200", "2,500"),
    "n_rows": ("5,000", "20,000", "50k", "120,000", "250k", "1 million"),
    "secs": ("15", "20", "30", "45", "60", "90"),
    "n": ("2", "3", "4", "5", "6", "8", "10"),
    "n_rate": ("60", "100", "120", "300", "600"),
    "n_bulk": ("80", "200", "350", "500", "1,400"),
    "pct": ("12", "15", "20", "25", "30"),
    "competitor": ("Pipewise", "Signalboard", "Trellis", "Quorra", "Fieldnote", "Clarion"),
    "exec": ("CFO", "CISO", "VP Sales", "Head of CS", "CTO", "COO", "IT director", "CRO"),
    "area": ("Accounts", "Pipeline", "Reports", "Inbox", "Activity", "Forecast", "Contacts"),
    "browser": ("Chrome", "Safari", "Edge", "Firefox"),
    "weekday": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday"),
    "quarter": ("Q1", "Q2", "Q3", "Q4"),
    "month": ("January", "February", "March", "April", "May", "June", "July", "August",
              "September", "October", "November", "December"),
    "country": ("Germany", "France", "the Netherlands", "Austria", "Denmark", "Spain", "Italy"),
    "siem": ("Splunk", "Datadog", "Sentinel", "Elastic"),
    "channel": ("alerts", "cs-escalations", "deals", "support-leads", "ops"),
    "ordinal": ("second", "third", "fourth"),
    "day": ("5", "10", "15", "25"),
}


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
        lines.append(f"{rng.choice(('T', 'Tel', 'Mobile', 'M', 'Phone'))}: {c.phone}")
    if rng.random() < 0.3:
        lines.append(c.email)
    return "\n".join(lines)


# ---------------------------------------------------------------------------- tickets

_GREETINGS = ("Hi team,", "Hello,", "Hi support,", "Hey there,", "Good morning,", "Hi {agent},",
              "Hello Brightwave team,", "Hi all,", "")
_TICKET_OPENERS = (
    "", "", "", "Hope you're well.", "Quick question for you.", "Following up on my last message.",
    "I'm the admin for our account.", "Writing on behalf of our {team} team.",
    "Since yesterday a few people on my team have been asking about this.",
    "Not sure if this is the right place to ask.",
)
_CLOSERS = ("Thanks,", "Thanks in advance,", "Best,", "Cheers,", "Kind regards,", "Thank you!",
            "Best regards,", "Many thanks,")
_SUBJECTS = ("{topic}", "Question about {topic}", "Re: {topic}", "{topic}?",
             "Feature request: {topic}", "{topic} - urgent", "Help with {topic}",
             "RE: {topic} question", "Request: {topic}")
_AGENT_REPLIES = (
    "Thanks for reaching out! Could you share a bit more about your setup and how many users are "
    "affected?",
    "Hi {first}, thanks for the details. I've passed this on to our product team and will update "
    "you as soon as I hear back.",
    "Thanks for the feedback! I've added your vote to the existing request on our side.",
    "Hi {first}, good question. This isn't available today, but I've logged it as a feature "
    "request.",
    "Thanks for flagging! Our engineers are looking into it; I'll keep you posted here.",
)


def ticket_text(rng: random.Random, theme_key: str, voice: Voice, when: str) -> TicketText:
    """A customer's support ticket; `when` is a human date for a quoted earlier reply."""
    slots = Slots(rng, agent=voice.agent.first)
    if theme_key == NOISE:
        subject, para = _noise_ticket(rng, voice)
    else:
        theme = _theme(theme_key)
        subject = fill(rng.choice(_SUBJECTS), Slots(rng, topic=_topic(rng, theme, slots)))
        opener = fill(rng.choice(_TICKET_OPENERS), slots)
        para = " ".join(p for p in (opener, request_paragraph(rng, theme, slots)) if p)
    body_parts = []
    greeting = fill(rng.choice(_GREETINGS), slots)
    if greeting:
        body_parts.append(greeting)
    para = add_typos(rng, para)
    if rng.random() < 0.15:
        para += " " + fill(rng.choice(_PII_LINES), Slots(rng, email=voice.contact.email,
                                                         phone=voice.contact.phone))
    body_parts.append(para)
    body_parts.append(f"{rng.choice(_CLOSERS)}\n{signature(rng, voice)}")
    reply = None
    if theme_key != NOISE and rng.random() < 0.35:
        reply = fill(rng.choice(_AGENT_REPLIES), Slots(rng, first=voice.contact.first))
        if rng.random() < 0.5:  # the customer answered on top of our reply: quote it
            quoted = "\n".join(f"> {line}" for line in reply.split(". "))
            body_parts.append(
                f"On {when}, {voice.agent.name} <support@{VENDOR_DOMAIN}> wrote:\n{quoted}"
            )
            if not subject.lower().startswith("re"):
                subject = f"Re: {subject}"
    return TicketText(_cap(subject), "\n\n".join(body_parts), reply)


_CHAT_OPENERS = ("", "", "Hi!", "hey", "Hello, quick one:", "Hi there -", "Question:")
_PII_LINES = (
    "You can reach me at {email} or {phone}.", "My direct line is {phone}.",
    "Please reply to {email}, I'm not always in the app.",
    "Feel free to call me on {phone} if that's easier.",
)


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
    opener = rng.choice(_CHAT_OPENERS)
    if opener and opener[-1].isalpha():
        para = _lower_first(para)
    body = add_typos(rng, f"{opener} {para}".strip(), TYPO_RATE * 1.5)
    if rng.random() < 0.12:
        body += " " + fill(rng.choice(_PII_LINES), Slots(rng, email=voice.contact.email,
                                                         phone=voice.contact.phone))
    reply = None
    if theme_key != NOISE and rng.random() < 0.6:
        reply = fill(rng.choice(_AGENT_REPLIES), Slots(rng, first=voice.contact.first))
    return TicketText("", body, reply)


def _noise_ticket(rng: random.Random, voice: Voice) -> tuple[str, str]:
    other = voice.contact
    options = (
        ("Out of office", "I'm out of the office until next "
         f"{rng.choice(_SLOT_CHOICES['weekday'])} with limited access to e-mail. "
         f"For anything urgent please call {other.phone}."),
        ("Thanks!", "Thanks, that fixed it! You can close this ticket."),
        ("test", "Test ticket, please ignore."),
        ("Unsubscribe", "Please remove me from this mailing list."),
        ("Happy holidays", "Happy holidays to the whole support team, thanks for all the help "
         "this year!"),
        ("Wrong recipient", "Sorry, this was meant for our internal IT desk. Please disregard."),
        ("Meeting follow-up",
         "Great meeting you at the conference last week, let's stay in touch."),
    )
    return rng.choice(options)


# ---------------------------------------------------------------------------- CRM notes

_NOTE_PREFIXES = (
    "Call w/ {exec} - ", "QBR w/ {cfirst} ({ctitle}): ", "Disco call. ", "Renewal check-in - ",
    "Email from {cfirst}: ", "Onsite mtg - ", "Quick sync w/ champion {cfirst}. ", "EBR prep: ",
    "", "", "Mtg notes: ", "Call w/ {cfirst} + {exec}. ",
)
_NOTE_TAILS = (
    "Blocker for expansion.", "Flagged to PM.", "Fwd to product.", "Follow up next wk.",
    "Renewal in {month}, risk: med.", "Sent roadmap deck.", "Need answer by EOQ.",
    "Said {competitor} already has it.", "Opp at risk.", "Will loop in SE.", "Logged in Canny too.",
    "{n_users} seats at stake.", "Asked for timeline.", "Escalate if no ETA by {weekday}.",
)
_NOTE_TITLES = ("Call notes", "QBR notes", "Renewal check-in", "Follow-up", "Discovery call",
                "Meeting with {company}", "Account review", "Champion sync", "Exec sponsor call")


def note_text(
    rng: random.Random, theme_key: str, voice: Voice, also: str | None = None
) -> NoteText:
    """Rep shorthand on an account or deal; `also` adds a second theme in passing."""
    c = voice.contact
    slots = Slots(rng, cfirst=c.first, ctitle=c.title, company=voice.company)
    title = fill(rng.choice(_NOTE_TITLES), slots)
    if theme_key == NOISE:
        return NoteText(title, add_typos(rng, _noise_note(rng, slots, voice)))
    theme = _theme(theme_key)
    style = rng.random()
    if style < 0.6:
        body = fill(rng.choice(_NOTE_PREFIXES), slots) + fill(rng.choice(theme.crm), slots) + "."
    elif style < 0.85:
        body = f"{c.first} ({c.title}) said: \"{_ask(rng, theme, slots)}\""
    else:
        body = f"{fill(rng.choice(_NOTE_PREFIXES), slots)}{_context(rng, theme, slots)}"
        body += f" {_cap(fill(rng.choice(theme.crm), slots))}."
    for _ in range(rng.choice((0, 1, 1, 2))):
        body += " " + fill(rng.choice(_NOTE_TAILS), slots)
    if also is not None:
        body += f" Also: {fill(rng.choice(_theme(also).crm), slots)}."
    if rng.random() < 0.2:
        body += rng.choice((f" cell {c.phone}", f" cc {c.email}", f" Contact: {c.email}"))
    return NoteText(title, add_typos(rng, _cap(body)))


def _noise_note(rng: random.Random, slots: Slots, voice: Voice) -> str:
    options = (
        "Left VM, will try again {weekday}.",
        "Sent holiday card + swag box.",
        "Rescheduled QBR to next {weekday} at {cfirst}'s request.",
        "Lunch w/ {cfirst} - mostly talked about their reorg and hiring plans, no product topics.",
        "No-show for scheduled call. Rebooked for {weekday}.",
        "Intro email to new AP contact, " + voice.contact.email + ".",
        "Updated billing address per {cfirst}.",
        "Congratulated {cfirst} on the promotion. Nothing else.",
    )
    return fill(rng.choice(options), slots)


# ---------------------------------------------------------------------------- ideas

_IDEA_TITLE_FORMS = ("{title}", "{title}", "{title}?", "Feature request: {title}",
                     "[Request] {title}", "{title} please", "{lower}")
_IDEA_ADDONS = (
    "", "", "", "+1 from our {team} team.", "Would love to see this soon!",
    "Happy to jump on a call to explain our use case.", "Is there any ETA?",
    "Similar to what {competitor} offers.", "Upvoting on behalf of {n} colleagues.",
)


def idea_text(rng: random.Random, theme_key: str, voice: Voice) -> IdeaText:
    slots = Slots(rng)
    if theme_key == NOISE:
        title, details = rng.choice((
            ("Love the product", "Not really a request, just wanted to say the team loves it."),
            ("test post", "testing the portal, please delete"),
            ("Great job on the new design", "The new navigation looks great. Keep it up!"),
            ("How do I change my avatar?", "Couldn't find it in settings."),
        ))
        return IdeaText(title, details)
    theme = _theme(theme_key)
    raw_title = fill(rng.choice(theme.titles), slots)
    title = rng.choice(_IDEA_TITLE_FORMS).format(title=raw_title, lower=raw_title.lower())
    paras = [request_paragraph(rng, theme, slots)]
    if rng.random() < 0.3:
        paras.append("Use case: " + _lower_first(_context(rng, theme, slots)))
    addon = fill(rng.choice(_IDEA_ADDONS), slots)
    if addon:
        paras.append(addon)
    return IdeaText(title, add_typos(rng, "\n\n".join(paras)))


# ---------------------------------------------------------------------------- calls

_CALL_TYPES = ("QBR", "Discovery", "Renewal discussion", "Demo follow-up", "Technical deep dive",
               "Expansion call", "Check-in", "Executive business review")
_RAISE = ("One thing that keeps coming up: ", "So the big one for us is this. ", "Also, ",
          "Another thing. ", "And then, ", "Honestly, ", "The other topic is ", "")
_REP_ANSWERS = (
    "Understood. Let me take that back to product and get you a timeline.",
    "That's fair. A few customers have asked for the same, I'll share what's on the roadmap.",
    "Okay. How many people would that affect on your side?",
    "Got it. Is that a must-have for the renewal or a nice-to-have?",
    "Thanks, that's helpful context. I'll loop in our solutions engineer.",
    "Makes sense. Can you send me the requirements in writing?",
)
_CUSTOMER_FOLLOWUPS = ("Okay, thanks.", "Appreciate it.", "Great, that would help.",
                       "Thanks, looking forward to it.", "Sounds good.")
_BRIEF_FORMS = (
    "{cname} ({ctitle}) and {rep} discussed {topics}. {note} {rep} agreed to follow up with "
    "product on timelines.",
    "The call focused on {topics}. {note} Next steps: {rep} to send a recap and roadmap update.",
    "{cname} raised {topics}. {note} The customer asked for a written answer before the next "
    "meeting.",
)


def call_text(
    rng: random.Random, theme_keys: list[str], voice: Voice, transcript: bool
) -> CallText:
    """A Gong-style call: title, brief, key points and optionally speaker turns."""
    c, rep = voice.contact, voice.rep
    call_type = rng.choice(_CALL_TYPES)
    title = f"{voice.company} <> {VENDOR_NAME} | {call_type}"
    slots = Slots(rng)
    if theme_keys == [NOISE]:
        return CallText(
            title, call_type,
            f"Short call with {c.name} to align calendars for the upcoming onsite. No product "
            "topics were discussed.",
            ("Agreed on the onsite date", "Agenda to follow by e-mail"),
            _smalltalk(rng, voice) if transcript else (),
        )
    themes = [_theme(k) for k in theme_keys]
    topic_names = [_topic(rng, t, slots) for t in themes]
    topics = (", ".join(topic_names[:-1]) + " and " + topic_names[-1]
              if len(topic_names) > 1 else topic_names[0])
    note = "The customer noted: " + _lower_first(_context(rng, themes[0], slots))
    brief = fill(rng.choice(_BRIEF_FORMS), Slots(
        rng, cname=c.name, ctitle=c.title, rep=rep.first, topics=topics, note=note))
    points = tuple(
        f"{_cap(name)}: {fill(rng.choice(t.crm), slots)}" for t, name in zip(themes, topic_names,
                                                                              strict=True)
    )
    turns: tuple[Turn, ...] = ()
    if transcript:
        turns = _conversation(rng, themes, voice, slots)
    return CallText(title, call_type, brief, points, turns)


def _conversation(rng: random.Random, themes: list[Theme], voice: Voice,
                  slots: Slots) -> tuple[Turn, ...]:
    c, rep = voice.contact, voice.rep
    turns = [
        Turn(rep.name, True, f"Thanks for making the time today, {c.first}. How are things on "
             "your side?"),
        Turn(c.name, False, rng.choice(("Good, busy quarter.", "Pretty hectic, but good.",
                                         "All good, thanks for setting this up."))),
    ]
    for i, theme in enumerate(themes):
        lead = rng.choice(_RAISE) if i else rng.choice((*_RAISE[:2], ""))
        ask = _ask(rng, theme, slots)
        turns.append(Turn(c.name, False, lead + (_lower_first(ask) if lead else ask)
                          + " " + _context(rng, theme, slots)))
        answer = rng.choice(_REP_ANSWERS)
        turns.append(Turn(rep.name, True, answer))
        if answer.endswith("?") or rng.random() < 0.5:
            reply = _impact(rng, theme, slots)
        else:
            reply = rng.choice(_CUSTOMER_FOLLOWUPS)
        turns.append(Turn(c.name, False, reply))
    turns.append(Turn(rep.name, True, f"Great, I'll send a recap with next steps by "
                      f"{slots['weekday']}."))
    turns.append(Turn(c.name, False, "Sounds good, thanks."))
    return tuple(turns)


def _smalltalk(rng: random.Random, voice: Voice) -> tuple[Turn, ...]:
    c, rep = voice.contact, voice.rep
    day = rng.choice(_SLOT_CHOICES["weekday"])
    return (
        Turn(rep.name, True, f"Hi {c.first}, just a quick one about the onsite."),
        Turn(c.name, False, f"Sure. Does {day} the week after next work for you?"),
        Turn(rep.name, True, "Works for me. I'll send the invite and an agenda."),
        Turn(c.name, False, "Perfect, talk then."),
    )
