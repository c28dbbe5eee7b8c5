"""The PM's taxonomy: seeds (a name, a few examples, a family) that mining runs respect.

- The file: `parse_file` reads the YAML (`trendmine taxonomy import`), `export_text` writes the
  current taxonomy with the discovered themes (`trendmine taxonomy export`), editable and
  re-importable.
- The table: `import_seeds` stores the seeds (trendmine.taxonomy_seeds) with who/when, one
  audit row per import (trendmine.taxonomy_imports); importing the same file twice changes
  nothing. Each seed owns a theme from the start: its id is stable and its label the PM's name.
- Mining (`warehouse.mine`, full runs): `force_seeds` decides with `mining.taxonomy.SeedAssigner`
  which items belong to which seed and carves them out of the model's clusters (the model's
  own split/merge), `Seeding.previous` and `Seeding.pin` keep each seed's cluster on the seed's
  theme id, and `apply_seeds` writes names, origin and families once the themes are written.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
import yaml

from foundation.errors import TrendmineError
from mining.contracts import TextEncoder
from mining.match import BIRTH, CONTINUE, MERGE, SPLIT, LineageEvent, MatchResult
from mining.taxonomy import SeedAssigner
from schemas.names import TAXONOMY_IMPORTS_TABLE, TAXONOMY_SEEDS_TABLE
from warehouse.curation import current_user
from warehouse.rows import fetch, fetch_value

ORIGINS = ("seeded", "discovered")
_KEYS = ("id", "name", "description", "examples", "parent", "origin")
_HINT = ("each theme is `- name: ...` with `examples:` (a list of a few requests), and "
         "optionally `description:` and `parent:`; see docs/taxonomy.md")
MAX_EXAMPLES = 20


@dataclass
class SeedSpec:
    """One theme of a taxonomy file."""

    name: str
    examples: list[str]
    description: str | None = None
    parent: str | None = None
    theme_id: int | None = None
    origin: str = "seeded"
    line: int = 0

    def content(self) -> tuple:
        return (self.name, self.description, list(self.examples), self.parent)


def _fail(source: str, line: int, what: str) -> TrendmineError:
    return TrendmineError(f"{source}, line {line}: {what}", _HINT)


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise TypeError
    return " ".join(str(value).split()) or None


def _lines(text: str) -> list[dict[str, int]]:
    """Per list item, the line (1-based) of the item and of each of its keys."""
    node = yaml.compose(text, Loader=yaml.SafeLoader)
    if not isinstance(node, yaml.SequenceNode):
        return []
    out = []
    for item in node.value:
        where = {"": item.start_mark.line + 1}
        if isinstance(item, yaml.MappingNode):
            for key, _ in item.value:
                where[str(key.value)] = key.start_mark.line + 1
        out.append(where)
    return out


def parse_text(text: str, source: str = "taxonomy") -> list[SeedSpec]:
    """The themes of a taxonomy file, or a TrendmineError naming the line and what to fix."""
    try:
        data = yaml.safe_load(text)
        lines = _lines(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise TrendmineError(f"{source}, line {line}: not valid YAML ({problem})",
                             "indent each theme under `- name: ...` and quote text that "
                             "contains ': ' or starts with a special character") from None
    if data is None:
        return []
    if not isinstance(data, list):
        raise _fail(source, 1, "expected a list of themes (each starting with `- name:`)")
    specs = [_spec(item, lines[i] if i < len(lines) else {"": 1}, source)
             for i, item in enumerate(data)]
    seen: dict[str, int] = {}
    for s in specs:
        key = s.name.lower()
        if key in seen:
            raise _fail(source, s.line, f"theme {s.name!r} is listed twice (first on line "
                        f"{seen[key]}); give each theme one entry")
        seen[key] = s.line
    return specs


def _spec(item: Any, where: dict[str, int], source: str) -> SeedSpec:
    line = where[""]
    if not isinstance(item, dict):
        raise _fail(source, line, "expected a theme (`- name: ...` with `examples:`)")
    unknown = [k for k in item if k not in _KEYS]
    if unknown:
        k = unknown[0]
        raise _fail(source, where.get(str(k), line),
                    f"unknown key {k!r} (expected one of {', '.join(_KEYS)})")
    try:
        name = _text(item.get("name"))
        description = _text(item.get("description"))
        parent = _text(item.get("parent"))
    except TypeError:
        raise _fail(source, line, "name, description and parent must be text") from None
    if not name:
        raise _fail(source, where.get("name", line), "a theme needs a `name`")
    origin = item.get("origin", "seeded")
    if origin not in ORIGINS:
        raise _fail(source, where.get("origin", line),
                    f"origin must be seeded or discovered, got {origin!r}")
    theme_id = item.get("id")
    if theme_id is not None and (isinstance(theme_id, bool) or not isinstance(theme_id, int)):
        raise _fail(source, where.get("id", line), f"id must be a theme id (a number), "
                    f"got {theme_id!r}; leave it out for a new theme")
    examples = item.get("examples") or []
    if isinstance(examples, str):
        examples = [examples]
    if not isinstance(examples, list):
        raise _fail(source, where.get("examples", line),
                    f"examples of {name!r} must be a list of requests (`- ...` lines)")
    try:
        examples = [e for e in (_text(x) for x in examples) if e]
    except TypeError:
        raise _fail(source, where.get("examples", line),
                    f"each example of {name!r} must be one request as text") from None
    if origin == "seeded" and not examples:
        raise _fail(source, where.get("examples", line),
                    f"theme {name!r} needs `examples:` (a few requests that belong to it)")
    if len(examples) > MAX_EXAMPLES:
        raise _fail(source, where.get("examples", line),
                    f"theme {name!r} has {len(examples)} examples; keep it to "
                    f"{MAX_EXAMPLES} or fewer (3-5 typical ones are enough)")
    return SeedSpec(name, list(dict.fromkeys(examples)), description, parent, theme_id,
                    origin, line)


def parse_file(path: Path) -> list[SeedSpec]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise TrendmineError(f"cannot read {path}: {exc.strerror}",
                             "give the path of a taxonomy YAML file") from None
    return parse_text(text, path.name)


@dataclass
class Seed:
    """An active seed as mining sees it."""

    seed_id: int
    theme_id: int
    name: str
    description: str | None
    examples: list[str]
    parent: str | None


@dataclass
class _StoredSeed(Seed):
    active: bool = True


@dataclass
class ImportResult:
    import_id: int
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    discovered: int = 0  # entries left as discovered themes


_SEED_COLUMNS = "seed_id, theme_id, name, description, examples, parent"


def active_seeds(conn: psycopg.Connection) -> list[Seed]:
    return fetch(conn, Seed, f"SELECT {_SEED_COLUMNS} FROM {TAXONOMY_SEEDS_TABLE} "
                 "WHERE active ORDER BY seed_id")


def _stored(conn: psycopg.Connection) -> list[_StoredSeed]:
    return fetch(conn, _StoredSeed, f"SELECT {_SEED_COLUMNS}, active FROM "
                 f"{TAXONOMY_SEEDS_TABLE} ORDER BY active DESC, seed_id DESC")


def _find(stored: list[_StoredSeed], spec: SeedSpec) -> _StoredSeed | None:
    """The stored seed an entry continues: same theme id, else same name (an active seed
    first, then the latest removed one, so its theme id comes back)."""
    if spec.theme_id is not None:
        return next((s for s in stored if s.theme_id == spec.theme_id), None)
    return next((s for s in stored if s.name.lower() == spec.name.lower()), None)


def _adoptable(conn: psycopg.Connection, theme_id: int, spec: SeedSpec, source: str) -> None:
    row = conn.execute("SELECT level, status FROM trendmine.themes WHERE theme_id = %s",
                       (theme_id,)).fetchone()
    if row is None or row[0] != "leaf" or row[1] != "active":
        raise _fail(source, spec.line, f"id {theme_id} of {spec.name!r} is not an active "
                    "theme (see `trendmine taxonomy list`); leave `id` out for a new theme")


def import_seeds(conn: psycopg.Connection, specs: list[SeedSpec], source: str,
                 who: str | None = None, keep_others: bool = False) -> ImportResult:
    """Store the file's seeds in one transaction (conn: autocommit). An entry continues the
    seed with its `id`, else its name; seeds the file leaves out are removed (their themes
    become discovered ones again) unless `keep_others`. Entries marked `origin: discovered`
    are left as they are. Every import is audited, even one that changes nothing."""
    if not conn.autocommit:
        raise ValueError("conn: a taxonomy import needs an autocommit connection")
    who = who or current_user()
    seeds = [s for s in specs if s.origin == "seeded"]
    with conn.transaction():
        conn.execute(f"LOCK TABLE {TAXONOMY_SEEDS_TABLE} IN SHARE ROW EXCLUSIVE MODE")
        iid = conn.execute(f"INSERT INTO {TAXONOMY_IMPORTS_TABLE} (source, imported_by) "
                           "VALUES (%s, %s) RETURNING import_id", (source, who)).fetchone()[0]
        result = ImportResult(iid, discovered=len(specs) - len(seeds))
        stored = _stored(conn)
        kept: set[int] = set()
        for spec in seeds:
            old = _find(stored, spec)
            if old is None or old.seed_id in kept:
                _add(conn, spec, iid, who, source)
                result.added.append(spec.name)
                continue
            kept.add(old.seed_id)
            same = old.active and (old.name, old.description, list(old.examples),
                                   old.parent) == spec.content()
            if same:
                result.unchanged.append(spec.name)
                continue
            conn.execute(
                f"UPDATE {TAXONOMY_SEEDS_TABLE} SET name = %s, description = %s, "
                "examples = %s, parent = %s, active = true, import_id = %s, updated_by = %s, "
                "updated_at = now() WHERE seed_id = %s",
                (spec.name, spec.description, spec.examples, spec.parent, iid, who,
                 old.seed_id))
            _mark_theme(conn, old.theme_id, spec.name)
            (result.changed if old.active else result.added).append(spec.name)
        gone = [s for s in stored if s.active and s.seed_id not in kept]
        if not keep_others:
            for s in gone:
                conn.execute(f"UPDATE {TAXONOMY_SEEDS_TABLE} SET active = false, "
                             "import_id = %s, updated_by = %s, updated_at = now() "
                             "WHERE seed_id = %s", (iid, who, s.seed_id))
                conn.execute("UPDATE trendmine.themes SET origin = 'discovered' "
                             "WHERE theme_id = %s", (s.theme_id,))
                result.removed.append(s.name)
        conn.execute(f"UPDATE {TAXONOMY_IMPORTS_TABLE} SET added = %s, changed = %s, "
                     "unchanged = %s, removed = %s WHERE import_id = %s",
                     (len(result.added), len(result.changed), len(result.unchanged),
                      len(result.removed), iid))
    return result


def _mark_theme(conn: psycopg.Connection, theme_id: int, name: str) -> None:
    conn.execute("UPDATE trendmine.themes SET label = %s, origin = 'seeded', updated_at = now()"
                 " WHERE theme_id = %s", (name, theme_id))


def _add(conn: psycopg.Connection, spec: SeedSpec, iid: int, who: str, source: str) -> None:
    """A new seed: it adopts the theme its `id` names (a discovered theme), else gets a new
    theme at once, so its id is known (and stable) before any mining run."""
    if spec.theme_id is not None:
        _adoptable(conn, spec.theme_id, spec, source)
        theme_id = spec.theme_id
        _mark_theme(conn, theme_id, spec.name)
    else:
        theme_id = conn.execute(
            "INSERT INTO trendmine.themes (label, level, origin) VALUES (%s, 'leaf', 'seeded') "
            "RETURNING theme_id", (spec.name,)).fetchone()[0]
    try:
        with conn.transaction():
            conn.execute(
                f"INSERT INTO {TAXONOMY_SEEDS_TABLE} (theme_id, name, description, examples, "
                "parent, import_id, created_by, updated_by) VALUES (%s, %s, %s, %s, %s, %s, %s, "
                "%s)", (theme_id, spec.name, spec.description, spec.examples, spec.parent, iid,
                        who, who))
    except psycopg.errors.UniqueViolation:
        raise _fail(source, spec.line, f"theme id {theme_id} already belongs to another "
                    "seed; give each id once") from None


@dataclass
class _Listed:
    theme_id: int
    label: str
    origin: str
    parent_label: str | None
    size: int
    n_accounts: int
    examples: list[str] | None
    description: str | None
    seed_parent: str | None
    quotes: Any
    updated_by: str | None
    updated_at: Any


_LISTED = f"""
SELECT t.theme_id, t.label, t.origin, t.parent_label, t.size, t.n_accounts, s.examples,
       s.description, s.parent AS seed_parent, t.quotes, s.updated_by, s.updated_at
FROM trends.themes t
LEFT JOIN {TAXONOMY_SEEDS_TABLE} s ON s.theme_id = t.theme_id AND s.active
WHERE t.level = 'leaf' AND t.status = 'active'
  AND (s.seed_id IS NOT NULL OR (t.visibility = 'shown' AND t.size > 0))
ORDER BY t.origin = 'discovered', t.size DESC, t.theme_id
"""


def taxonomy_rows(conn: psycopg.Connection) -> list[_Listed]:
    """Seeded themes (all active seeds) then discovered ones (shown, with members)."""
    return fetch(conn, _Listed, _LISTED)


def export_text(conn: psycopg.Connection, n_examples: int = 3) -> str:
    """The taxonomy as an importable YAML file: the seeds, then the discovered themes marked
    `origin: discovered` (left alone on import until that line is removed)."""
    items = []
    for r in taxonomy_rows(conn):
        item: dict[str, Any] = {"id": r.theme_id, "name": r.label}
        if r.origin == "seeded" and r.examples is not None:
            if r.description:
                item["description"] = r.description
            item["examples"] = list(r.examples)
            if r.seed_parent:
                item["parent"] = r.seed_parent
        else:
            item["origin"] = "discovered"
            item["examples"] = [q["text"] for q in (r.quotes or [])][:n_examples]
            if r.parent_label:
                item["parent"] = r.parent_label
        items.append(item)
    head = ("# trendmine taxonomy. Edit and re-import with `trendmine taxonomy import FILE`.\n"
            "# A seed: name, examples (a few requests), optional description and parent.\n"
            "# `origin: discovered` marks a theme mining found: import leaves it as it is;\n"
            "# delete that line (and edit name/examples) to make it a seed of your own.\n")
    return head + yaml.safe_dump(items, sort_keys=False, allow_unicode=True, width=100)


# --- mining (full runs)

def changed_since(conn: psycopg.Connection, when: datetime | None) -> bool:
    """Whether an import added, changed or removed a seed after `when` (the last full run):
    seeds apply on full runs, so `auto` mode runs one."""
    return when is not None and bool(fetch_value(
        conn, f"SELECT EXISTS (SELECT 1 FROM {TAXONOMY_SEEDS_TABLE} WHERE updated_at > %s)",
        (when,)))


@dataclass
class Seeding:
    """What `force_seeds` did to a model: {model cluster id: seed theme id}."""

    seeds: list[Seed]
    cluster_theme: dict[int, int]

    @property
    def theme_ids(self) -> set[int]:
        return {s.theme_id for s in self.seeds}

    def previous(self, prev_ids: list[int], prev_cents: np.ndarray | None,
                 prev_members: list[set]) -> tuple[list[int], np.ndarray | None, list[set]]:
        """The previous themes a discovered cluster may continue: all but the seeds'."""
        keep = [i for i, t in enumerate(prev_ids) if t not in self.theme_ids]
        cents = prev_cents[keep] if prev_cents is not None and keep else None
        return [prev_ids[i] for i in keep], cents, [prev_members[i] for i in keep]

    def pin(self, cluster_ids: np.ndarray, match: MatchResult) -> MatchResult:
        """Each seed's cluster keeps the seed's theme id. A previous discovered theme that
        such a cluster continues (a need the PM has now seeded) is merged into the seed."""
        index = {int(c): j for j, c in enumerate(cluster_ids.tolist())}
        pinned = {index[c]: t for c, t in self.cluster_theme.items() if c in index}
        out = MatchResult(assigned=list(match.assigned))
        absorbed: dict[int, int] = {}
        for j, tid in pinned.items():
            old = match.assigned[j]
            out.assigned[j] = tid
            if old is not None:
                absorbed[old] = tid
        for ev in match.events:
            j = ev.new_index
            if j not in pinned:
                out.events.append(ev)
            elif ev.event == CONTINUE:
                out.events.append(LineageEvent(MERGE, pinned[j], j, (ev.theme_id,),
                                               ev.similarity, ev.overlap))
            elif ev.event == MERGE:
                out.events.append(replace(ev, theme_id=pinned[j]))
            elif ev.event not in (BIRTH, SPLIT):
                out.events.append(ev)
        out.events += [LineageEvent(CONTINUE, tid, j) for j, tid in sorted(pinned.items())]
        out.births = [j for j in match.births if j not in pinned]
        out.retired = list(match.retired)
        out.merged = {old: absorbed.get(new, new) for old, new in match.merged.items()}
        out.merged.update(absorbed)
        out.parents = {j: p for j, p in match.parents.items() if j not in pinned}
        return out


def seed_vectors(seeds: list[Seed], encoder: TextEncoder
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(example vectors, seed index per example, one name vector per seed); a name is
    embedded with its description, which says the same need in more words."""
    examples = [e for s in seeds for e in s.examples]
    seed_of = np.array([j for j, s in enumerate(seeds) for _ in s.examples], dtype=np.int64)
    names = [f"{s.name}. {s.description}" if s.description else s.name for s in seeds]
    V = np.asarray(encoder.encode(examples + names), dtype=np.float32)
    return V[: len(examples)], seed_of, V[len(examples):]


def force_seeds(conn: psycopg.Connection, model: Any, encoder: TextEncoder,
                assigner: SeedAssigner | None = None) -> Seeding | None:
    """Carve each seed's items out of the fitted model's clusters into one cluster per seed
    (None without seeds). Items the model left as noise stay noise."""
    seeds = active_seeds(conn)
    if not seeds:
        return None
    E, seed_of_example, N = seed_vectors(seeds, encoder)
    seed_of = (assigner or SeedAssigner()).fit(
        model.embeddings_fit_, E, seed_of_example, N, model.labels_).seed_of_
    cluster_seed = carve(model, seed_of)
    families = _families(model, cluster_seed, seeds)
    if families is not None:
        model.group_parents(families)
    return Seeding(seeds, {c: seeds[s].theme_id for c, s in cluster_seed.items()})


def carve(model: Any, seed_of: np.ndarray) -> dict[int, int]:
    """Re-cut the model's clusters so each seed's items form one cluster and every other
    cluster keeps its unseeded members; returns {cluster id: seed index}. Done as one merge
    of all clusters and one split (the model's own operations), not a split per mixed
    cluster: each operation regroups the parents."""
    member = np.flatnonzero(model.labels_ >= 0)
    if member.size == 0 or not (seed_of[member] >= 0).any():
        return {}
    # one key per final cluster: -1 - seed for a seed's items, the cluster id for the rest
    keys = np.where(seed_of[member] >= 0, -1 - seed_of[member], model.labels_[member])
    _, parts = np.unique(keys, return_inverse=True)
    ids = model.cluster_ids_.tolist()
    if len(ids) > 1:
        model.merge_clusters({c: ids[0] for c in ids[1:]})
    model.split_cluster(ids[0], parts)
    seeded = np.flatnonzero(seed_of[member] >= 0)
    got = dict(zip(model.labels_[member[seeded]].tolist(), seed_of[member[seeded]].tolist(),
                   strict=True))
    return {int(c): int(s) for c, s in got.items()}


def _families(model: Any, cluster_seed: dict[int, int], seeds: list[Seed]
              ) -> np.ndarray | None:
    """Parent numbers with the seeds that name the same `parent` under one parent of their
    own; the other leaves keep the grouper's parents. None when no seed names a parent."""
    named = {c: seeds[s].parent for c, s in cluster_seed.items() if seeds[s].parent}
    if not named:
        return None
    parent_of = model.parent_of_.copy()
    top = int(parent_of.max()) + 1 if parent_of.size else 0
    family = {p: top + i for i, p in enumerate(sorted(set(named.values())))}
    for j, c in enumerate(model.cluster_ids_.tolist()):
        if c in named:
            parent_of[j] = family[named[c]]
    return parent_of


def apply_seeds(conn: psycopg.Connection, seeding: Seeding | None) -> None:
    """After a full run wrote its themes: each seed's theme carries the PM's name and origin
    'seeded' (with no members this run, counts 0; never taken for chatter: the PM named it);
    a parent whose seeded leaves all name the same family takes that name and origin; every
    other theme is 'discovered'."""
    conn.execute("UPDATE trendmine.themes SET origin = 'discovered' WHERE origin = 'seeded'")
    if seeding is None:
        return
    conn.execute(
        f"""UPDATE trendmine.themes t SET label = s.name, origin = 'seeded', status = 'active',
                visibility = CASE WHEN t.visibility = 'chatter' THEN 'shown'
                                  ELSE t.visibility END,
                size = CASE WHEN t.theme_id = ANY(%(hit)s) THEN t.size ELSE 0 END,
                n_feedback = CASE WHEN t.theme_id = ANY(%(hit)s) THEN t.n_feedback ELSE 0 END,
                n_accounts = CASE WHEN t.theme_id = ANY(%(hit)s) THEN t.n_accounts ELSE 0 END
            FROM {TAXONOMY_SEEDS_TABLE} s WHERE s.active AND s.theme_id = t.theme_id""",
        {"hit": sorted(seeding.cluster_theme.values())})
    conn.execute(
        f"""UPDATE trendmine.themes p SET label = f.parent, origin = 'seeded'
            FROM (SELECT l.parent_theme_id, min(s.parent) AS parent
                  FROM trendmine.themes l
                  JOIN {TAXONOMY_SEEDS_TABLE} s ON s.theme_id = l.theme_id AND s.active
                  WHERE l.parent_theme_id IS NOT NULL AND l.status = 'active'
                  GROUP BY l.parent_theme_id
                  HAVING count(DISTINCT s.parent) = 1 AND count(*) = count(s.parent)) f
            WHERE p.theme_id = f.parent_theme_id""")
