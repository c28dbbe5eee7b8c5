"""Fictional companies and people from word lists: names, domains, e-mails, phone numbers."""

from __future__ import annotations

import random
import re

from demoworld.texts import VENDOR_DOMAIN, Person

_FIRST = (
    "Anna", "Ben", "Carla", "David", "Elena", "Farid", "Grace", "Hiro", "Ines", "Jonas", "Kavya",
    "Liam", "Maria", "Noah", "Olivia", "Pedro", "Qian", "Rosa", "Sam", "Tara", "Umar", "Vera",
    "Wei", "Ximena", "Yusuf", "Zoe", "Aisha", "Bruno", "Chloe", "Dmitri", "Emma", "Felix",
    "Gabriel", "Hannah", "Ivan", "Julia", "Kenji", "Lena", "Marco", "Nadia", "Oscar", "Priya",
    "Rafael", "Sofia", "Tomas", "Uma", "Viktor", "Wendy", "Yara", "Arjun", "Beatriz", "Chen",
    "Daniel", "Fatima", "Greta", "Hugo", "Isabel", "Jack", "Katarina", "Lucas", "Mei", "Nikhil",
)
_LAST = (
    "Andersson", "Baker", "Costa", "Dubois", "Evans", "Fischer", "Garcia", "Hansen", "Ito",
    "Jensen", "Kowalski", "Lopez", "Müller", "Nguyen", "Okafor", "Patel", "Quinn", "Rossi",
    "Schmidt", "Tanaka", "Usman", "Varga", "Weber", "Xu", "Yilmaz", "Zhang", "Brennan", "Carter",
    "Diaz", "Eriksen", "Fontaine", "Gupta", "Hoffmann", "Ibrahim", "Johansson", "Kim", "Larsen",
    "Moreau", "Novak", "O'Brien", "Petrov", "Reyes", "Santos", "Thompson", "van Dijk", "Walsh",
)
_PREFIX = (
    "Blue", "North", "Silver", "Iron", "Maple", "Harbor", "Cedar", "Summit", "Bright", "Stone",
    "River", "Oak", "Pine", "Granite", "Falcon", "Copper", "Golden", "Red", "Clear", "Lake",
    "Sun", "Star", "Wolf", "Eagle", "Fox", "Bay", "Ridge", "Crest", "Prairie", "Atlas", "Nova",
    "Vertex", "Apex", "Polar", "Coastal", "Urban", "Quantum", "Evergreen", "Hudson", "Alder",
)
_STEM = ("field", "stone", "gate", "point", "line", "bridge", "works", "wave", "path", "peak",
         "view", "wood", "light", "forge", "side", "mark", "haven", "core", "vale", "spring")
_INDUSTRY = (
    "Logistics", "Analytics", "Foods", "Health", "Labs", "Systems", "Partners", "Robotics",
    "Manufacturing", "Insurance", "Capital", "Retail", "Energy", "Software", "Media", "Biotech",
    "Consulting", "Freight", "Clinics", "Apparel", "Hospitality", "Education", "Telecom",
)
_LEGAL = {
    "NA": ("Inc.", "LLC", "Corp.", ""),
    "EMEA": ("GmbH", "Ltd", "BV", "SAS", "AB", "AG", ""),
    "APAC": ("Pty Ltd", "Pte Ltd", "KK", "Ltd"),
    "LATAM": ("S.A.", "Ltda.", ""),
}
_TLD = {"NA": (".com", ".io", ".co"), "EMEA": (".de", ".co.uk", ".nl", ".fr", ".eu", ".com"),
        "APAC": (".com.au", ".sg", ".jp", ".com"), "LATAM": (".com.br", ".mx", ".com")}
CONTACT_TITLES = (
    "Operations Manager", "IT Administrator", "Head of Sales Ops", "Finance Lead",
    "Customer Success Manager", "Director of RevOps", "Systems Analyst", "VP Operations",
    "Head of IT", "Product Owner", "Marketing Ops Manager", "Support Team Lead",
)


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
