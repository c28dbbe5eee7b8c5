"""Fictional companies and people from word lists: names, domains, e-mails, phone numbers.

The word lists live in ``data/people.yaml``; phone numbers follow each region's format here.
"""

from __future__ import annotations

import random
import re

from demoworld.resources import load
from demoworld.texts import VENDOR_DOMAIN, Person

_PEOPLE = load("people.yaml")
_FIRST: tuple[str, ...] = _PEOPLE["first_names"]
_LAST: tuple[str, ...] = _PEOPLE["last_names"]
_PREFIX: tuple[str, ...] = _PEOPLE["company"]["prefixes"]
_STEM: tuple[str, ...] = _PEOPLE["company"]["stems"]
_INDUSTRY: tuple[str, ...] = _PEOPLE["company"]["industries"]
_LEGAL: dict[str, tuple[str, ...]] = _PEOPLE["company"]["legal_forms"]  # per region
_TLD: dict[str, tuple[str, ...]] = _PEOPLE["company"]["tlds"]  # per region
CONTACT_TITLES: tuple[str, ...] = _PEOPLE["contact_titles"]


def company_name(rng: random.Random, region: str, taken: set[str]) -> str:
    while True:
        first = rng.choice(_PREFIX)
        first = first + rng.choice(_STEM) if rng.random() < 0.6 else first
        name = f"{first} {rng.choice(_INDUSTRY)}"
        legal = rng.choice(_LEGAL[region])
        full = f"{name} {legal}".strip()
        if full not in taken:
            taken.add(full)
            return full


def domain_of(rng: random.Random, name: str, region: str) -> str:
    words = re.sub(r"[^a-z ]", "", name.lower()).split()
    return words[0] + (words[1] if len(words) > 1 and rng.random() < 0.4 else "") + rng.choice(
        _TLD[region])


def phone(rng: random.Random, region: str) -> str:
    if region == "NA":
        return f"+1 ({rng.choice((212, 312, 415, 512, 617, 646))}) 555-01{rng.randrange(100):02d}"
    if region == "EMEA":
        return rng.choice((
            f"+49 30 {rng.randrange(1000, 9999)} {rng.randrange(1000, 9999)}",
            f"+44 20 7946 0{rng.randrange(100, 999)}",
            f"+31 20 {rng.randrange(100, 999)} {rng.randrange(1000, 9999)}",
            f"+33 1 {rng.randrange(10, 99)} {rng.randrange(10, 99)} {rng.randrange(10, 99)} "
            f"{rng.randrange(10, 99)}",
        ))
    if region == "APAC":
        return f"+61 2 {rng.randrange(1000, 9999)} {rng.randrange(1000, 9999)}"
    return f"+55 11 {rng.randrange(1000, 9999)}-{rng.randrange(1000, 9999)}"


def person(rng: random.Random, domain: str, region: str, title: str | None = None) -> Person:
    first, last = rng.choice(_FIRST), rng.choice(_LAST)
    local = re.sub(r"[^a-z.]", "", f"{first}.{last}".lower().replace("ü", "ue"))
    return Person(f"{first} {last}", f"{local}@{domain}", phone(rng, region),
                  title or rng.choice(CONTACT_TITLES))


def staff(rng: random.Random, n: int, title: str) -> list[Person]:
    """Our own people (reps, support agents), unique names."""
    out: list[Person] = []
    names: set[str] = set()
    while len(out) < n:
        p = person(rng, VENDOR_DOMAIN, "NA", title)
        if p.name not in names:
            names.add(p.name)
            out.append(p)
    return out
