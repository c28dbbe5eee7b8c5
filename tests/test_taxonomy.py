"""Seeded taxonomy without services: the SeedAssigner on synthetic arrays, the taxonomy file
(errors that name the line), and how a seed's cluster keeps its theme id in a match."""

from __future__ import annotations

import numpy as np
import pytest

from foundation.errors import TrendmineError
from mining.match import BIRTH, CONTINUE, MERGE, LineageEvent, MatchResult
from mining.taxonomy import SeedAssigner
from warehouse.taxonomy import Seed, Seeding, parse_text

DIM = 48


def _blobs(n_needs: int, per_need: int, rng: np.random.Generator, spread: float = 0.12
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Unit vectors around `n_needs` random centres: (items, need per item, centres)."""
    centres = rng.normal(size=(n_needs, DIM))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    y = np.repeat(np.arange(n_needs), per_need)
    X = centres[y] + rng.normal(scale=spread, size=(y.size, DIM))
    return X / np.linalg.norm(X, axis=1, keepdims=True), y, centres


def _seeds(centres: np.ndarray, seeded: list[int], rng: np.random.Generator, n_ex: int = 3):
    """A few noisy examples and a name vector per seeded need (seed j = need seeded[j])."""
    E = np.concatenate([centres[s] + rng.normal(scale=0.12, size=(n_ex, DIM)) for s in seeded])
    seed_of = np.repeat(np.arange(len(seeded)), n_ex)
    names = centres[seeded] + rng.normal(scale=0.15, size=(len(seeded), DIM))
    return E, seed_of, names


def test_seeded_needs_land_in_their_seed_and_others_are_left_alone():
    rng = np.random.default_rng(0)
    X, y, centres = _blobs(10, 40, rng)
    seeded = [0, 1, 2, 3, 4, 5, 6]  # needs 7, 8, 9 are covered by no seed
    E, seed_of, names = _seeds(centres, seeded, rng)
    labels = y.copy()
    labels[rng.random(y.size) < 0.05] = -1  # some items in no cluster
    model = SeedAssigner().fit(X, E, seed_of, names, labels)
    truth = np.array([seeded.index(v) if v in seeded else -1 for v in y])
    covered = truth >= 0
    assert (model.seed_of_[covered] == truth[covered]).mean() >= 0.95
    assert (model.seed_of_[~covered] >= 0).mean() <= 0.05
    assert model.seed_of_.shape == (y.size,) and 0 < model.threshold_ < 1
    assert model.centroids_.shape == (len(seeded), DIM)


def test_a_cluster_few_of_whose_members_match_a_seed_stays_unseeded():
    """An unseeded need close to a seeded one: items that individually pass the bar are
    not taken when their cluster as a whole does not follow."""
    rng = np.random.default_rng(1)
    X, y, centres = _blobs(2, 60, rng, spread=0.1)
    # need 1 sits near need 0: a few of its items look like need 0's examples
    centres[1] = centres[0] * 0.55 + centres[1] * 0.45
    centres[1] /= np.linalg.norm(centres[1])
    X = centres[y] + rng.normal(scale=0.1, size=(y.size, DIM))
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    E, seed_of, names = _seeds(centres, [0], rng)
    with_clusters = SeedAssigner().fit(X, E, seed_of, names, y)
    assert (with_clusters.seed_of_[y == 1] >= 0).mean() == 0.0
    assert (with_clusters.seed_of_[y == 0] == 0).mean() >= 0.9


def test_a_narrow_seed_has_a_higher_bar_than_broad_ones():
    """Each seed's bar follows how closely its own examples agree: a seed whose examples
    say one thing (here a need with no records yet) does not take the cluster of a nearby
    need no seed covers, while seeds with varied examples still take their own needs."""
    rng = np.random.default_rng(3)
    centres = rng.normal(size=(8, DIM))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    near = 0.4 * centres[0] + np.sqrt(1 - 0.4**2) * centres[7]  # cosine 0.4 to need 0
    data_centres = np.vstack([centres[1:7], near])  # need 0 has no records; 7 is unseeded
    y = np.repeat(np.arange(7), 40)
    X = data_centres[y] + rng.normal(scale=0.08, size=(y.size, DIM))
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    E = np.concatenate([centres[0] + rng.normal(scale=0.02, size=(3, DIM))]
                       + [centres[s] + rng.normal(scale=0.3, size=(3, DIM)) for s in range(1, 7)])
    seed_of = np.repeat(np.arange(7), 3)
    model = SeedAssigner().fit(X, E, seed_of, centres[:7], y)
    assert model.seed_threshold_.shape == (7,)
    assert model.seed_threshold_[0] > model.seed_threshold_[1:].max()
    assert (model.seed_of_[y == 6] >= 0).mean() == 0.0
    assert (model.seed_of_[y < 6] == y[y < 6] + 1).mean() >= 0.95
    one_bar = SeedAssigner(radius_weight=0.0).fit(X, E, seed_of, centres[:7], y)
    assert (one_bar.seed_of_[y == 6] == 0).mean() >= 0.9  # what the common bar alone does


def test_no_seeds_and_parameter_errors():
    X = np.eye(4, dtype=np.float32)
    model = SeedAssigner().fit(X, np.zeros((0, 4)), np.zeros(0, np.int64))
    assert (model.seed_of_ == -1).all()
    with pytest.raises(ValueError, match="claim_quantile"):
        SeedAssigner(claim_quantile=2.0).fit(X, X[:1], [0])
    with pytest.raises(ValueError, match="radius_weight"):
        SeedAssigner(radius_weight=-1.0).fit(X, X[:1], [0])
    with pytest.raises(ValueError, match="seed_of_example"):
        SeedAssigner().fit(X, X[:2], [0])


GOOD = """\
- name: Audit log
  description: A record of who did what, for auditors
  examples:
    - We need an audit trail for SOC2
    - Who deleted this report?
  parent: Security & compliance
- name: SAML single sign-on
  examples: [Okta SSO please, Log in with Azure AD]
"""


def test_taxonomy_file_parses():
    specs = parse_text(GOOD, "t.yaml")
    assert [s.name for s in specs] == ["Audit log", "SAML single sign-on"]
    assert specs[0].parent == "Security & compliance" and specs[0].line == 1
    assert specs[1].examples == ["Okta SSO please", "Log in with Azure AD"]
    assert specs[1].line == 7 and specs[1].origin == "seeded"


@pytest.mark.parametrize(("text", "message"), [
    ("- name: Audit log\n  examples:\n  - a\n - b\n", "t.yaml, line 4: not valid YAML"),
    ("name: Audit log\n", "line 1: expected a list of themes"),
    ("- name: A\n  examples: [x]\n- name: B\n  exmples: [y]\n", "line 4: unknown key 'exmples'"),
    ("- name: A\n  examples: [x]\n- name: B\n", "line 3: theme 'B' needs `examples:`"),
    ("- name: A\n  examples: [x]\n- name: a\n  examples: [y]\n",
     "line 3: theme 'a' is listed twice (first on line 1)"),
    ("- examples: [x]\n", "line 1: a theme needs a `name`"),
    ("- name: A\n  examples: [x]\n  id: twelve\n", "line 3: id must be a theme id"),
    ("- name: A\n  examples: [x]\n  origin: found\n", "line 3: origin must be seeded or"),
])
def test_taxonomy_file_errors_name_the_line(text, message):
    with pytest.raises(TrendmineError) as err:
        parse_text(text, "t.yaml")
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_discovered_entries_need_no_examples():
    specs = parse_text("- id: 12\n  name: Found theme\n  origin: discovered\n", "t.yaml")
    assert specs[0].origin == "discovered" and specs[0].theme_id == 12


def test_a_seed_cluster_keeps_the_seed_theme_id():
    """Cluster 7 holds a seed (theme 100) and continues discovered theme 5 (now merged
    into the seed); cluster 3 is an ordinary birth."""
    match = MatchResult(assigned=[5, None, 9],
                        events=[LineageEvent(CONTINUE, 5, 0), LineageEvent(BIRTH, None, 1),
                                LineageEvent(CONTINUE, 9, 2),
                                LineageEvent(MERGE, 5, 0, (8,))],
                        births=[1], merged={8: 5})
    seeding = Seeding([Seed(1, 100, "Audit log", None, ["x"], None)], {7: 100})
    out = seeding.pin(np.array([7, 3, 4]), match)
    assert out.assigned == [100, None, 9]
    assert out.merged == {5: 100, 8: 100}
    assert out.births == [1]
    kinds = {(e.event, e.theme_id, e.related_theme_ids) for e in out.events}
    assert (CONTINUE, 100, ()) in kinds and (MERGE, 100, (5,)) in kinds
    assert (MERGE, 100, (8,)) in kinds and (CONTINUE, 5, ()) not in kinds
    assert seeding.previous([5, 100, 9], np.eye(3), [set(), {1}, set()])[0] == [5, 9]


def test_carve_gives_each_seed_one_cluster_and_keeps_the_rest():
    from mining import IdentityReducer, ThemeModel
    from warehouse.taxonomy import carve

    rng = np.random.default_rng(3)
    X, y, _ = _blobs(6, 30, rng, spread=0.05)
    model = ThemeModel(reducer=IdentityReducer(), merger=False, grouper=False).fit(X)
    before = model.labels_.copy()
    seed_of = np.where(y < 3, y, -1)  # needs 0-2 seeded
    seed_of[:5] = 2  # a few items of need 0 taken by seed 2 (a mixed cluster)
    clusters = carve(model, seed_of)
    assert sorted(clusters.values()) == [0, 1, 2]
    for c, s in clusters.items():
        member = before >= 0
        assert set(np.flatnonzero(model.labels_ == c)) == set(
            np.flatnonzero(member & (seed_of == s)))
    rest = (before >= 0) & (seed_of < 0)
    pairs = {(int(a), int(b)) for a, b in zip(before[rest], model.labels_[rest], strict=True)}
    assert len(pairs) == len({a for a, _ in pairs}) == len({b for _, b in pairs})
    assert (model.labels_[before < 0] == -1).all()
    assert carve(model, np.full(y.size, -1)) == {}
