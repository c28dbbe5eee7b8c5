"""The demo product's feature themes: interchangeable sentence fragments per theme.

Each theme has short topic phrases, the ask in several phrasings, context and impact
sentences, rep shorthand for CRM notes and idea-portal titles; the text lives in
``data/themes.yaml``. ``texts.py`` combines them per register (ticket, note, idea, call) so
every theme has hundreds of distinct phrasings. Fragments may use the slots that
``texts.Slots`` fills ({team}, {idp}, {n_users}, ...).
"""

from __future__ import annotations

from dataclasses import dataclass

from demoworld.resources import load


@dataclass(frozen=True)
class Theme:
    key: str
    label: str
    topics: tuple[str, ...]  # short noun phrases, used in subjects and summaries
    asks: tuple[str, ...]  # the request, customer voice, one sentence
    contexts: tuple[str, ...]  # why / the situation
    impacts: tuple[str, ...]  # what it costs them
    crm: tuple[str, ...]  # rep shorthand, no final period
    titles: tuple[str, ...]  # idea-portal titles


THEMES: tuple[Theme, ...] = tuple(Theme(**t) for t in load("themes.yaml")["themes"])
THEME_BY_KEY: dict[str, Theme] = {t.key: t for t in THEMES}
NOISE = "noise"  # ground-truth label of off-topic records
