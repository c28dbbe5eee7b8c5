"""Match a new clustering to the previous themes: stable ids and lineage events."""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linear_sum_assignment

from mining._validate import as_matrix, check_float, l2_normalize

BIRTH, CONTINUE, MERGE, SPLIT, RETIRE = "birth", "continue", "merge", "split", "retire"
_FORBIDDEN = -1e6  # score of a pair that may not be matched


@dataclass(frozen=True)
class LineageEvent:
    """One lineage fact of a match.

    event: birth, continue, merge, split or retire.
    theme_id: the previous theme concerned (the survivor for a merge, the parent for a
        split); None for a birth, whose id the caller allocates for `new_index`.
    new_index: the new cluster concerned (None for a retirement).
    related_theme_ids: merge -> (absorbed previous theme,); split and a birth from a split
        -> (parent theme,); otherwise ().
    similarity: centroid cosine of the pair (for a retirement or a plain birth, to the
        nearest theme of the other side).
    overlap: member overlap of the pair (Jaccard for continue; the share of the absorbed
        theme for a merge; the share of the new cluster for a split).
    """

    event: str
    theme_id: int | None
    new_index: int | None = None
    related_theme_ids: tuple[int, ...] = ()
    similarity: float = 0.0
    overlap: float = 0.0


@dataclass
class MatchResult:
    """`assigned[j]`: previous theme id kept by new cluster j, or None (a birth; the caller
    allocates its id). `merged`: absorbed previous id -> surviving id. `parents`: new index
    born from a split -> parent theme id."""

    assigned: list[int | None]
    events: list[LineageEvent] = field(default_factory=list)
    births: list[int] = field(default_factory=list)
    retired: list[int] = field(default_factory=list)
    merged: dict[int, int] = field(default_factory=dict)
    parents: dict[int, int] = field(default_factory=dict)


def _overlaps(prev: Sequence[set], new: Sequence[set]) -> np.ndarray:
    """|new_j ∩ prev_i| as a (n_new, n_prev) matrix, via an inverted index of prev keys."""
    where: dict[Hashable, int] = {}
    for i, members in enumerate(prev):
        for key in members:
            where[key] = i  # a key belongs to at most one previous theme
    inter = np.zeros((len(new), len(prev)), dtype=np.float64)
    for j, members in enumerate(new):
        for key in members:
            i = where.get(key)
            if i is not None:
                inter[j, i] += 1
    return inter


def match_themes(
    prev_ids: Sequence[int],
    prev_centroids: np.ndarray,
    prev_members: Sequence[set],
    new_centroids: np.ndarray,
    new_members: Sequence[set],
    min_similarity: float = 0.75,
    min_overlap: float = 0.3,
) -> MatchResult:
    """Optimal one-to-one matching of new clusters to previous themes, then lineage.

    A pair may match when its centroid cosine >= `min_similarity` or its member overlap
    (|A∩B| / min(|A|,|B|)) >= `min_overlap`; among those, `linear_sum_assignment` maximises
    cosine + Jaccard. Leftovers become merges (a previous theme that put >= `min_overlap`
    of its members into a matched new cluster, or, without members, whose nearest new
    centroid passes `min_similarity`), split births, plain births or retirements.
    """
    check_float("min_similarity", min_similarity, -1.0, 1.0)
    check_float("min_overlap", min_overlap, 0.0, 1.0)
    prev_ids = [int(i) for i in prev_ids]
    n_prev, n_new = len(prev_ids), len(new_members)
    P = l2_normalize(as_matrix("prev_centroids", prev_centroids)) if n_prev else None
    N = l2_normalize(as_matrix("new_centroids", new_centroids)) if n_new else None
    if len(prev_members) != n_prev or (P is not None and P.shape[0] != n_prev):
        raise ValueError("prev_members: prev_ids, prev_centroids and prev_members must align")
    if N is not None and N.shape[0] != n_new:
        raise ValueError("new_members: new_centroids and new_members must align")
    result = MatchResult(assigned=[None] * n_new)
    if n_prev == 0 or n_new == 0:
        for j in range(n_new):
            result.births.append(j)
            result.events.append(LineageEvent(BIRTH, None, new_index=j))
        for pid in prev_ids:
            result.retired.append(pid)
            result.events.append(LineageEvent(RETIRE, pid))
        return result

    S = N @ P.T  # (n_new, n_prev)
    inter = _overlaps(prev_members, new_members)
    size_new = np.array([len(m) for m in new_members], dtype=np.float64)[:, None]
    size_prev = np.array([len(m) for m in prev_members], dtype=np.float64)[None, :]
    union = size_new + size_prev - inter
    jaccard = np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)
    overlap = np.divide(
        inter, np.minimum(size_new, size_prev), out=np.zeros_like(inter),
        where=np.minimum(size_new, size_prev) > 0,
    )  # fmt: skip
    share_of_prev = np.divide(inter, size_prev, out=np.zeros_like(inter), where=size_prev > 0)
    share_of_new = np.divide(inter, size_new, out=np.zeros_like(inter), where=size_new > 0)
    have_members = bool(inter.sum() > 0)

    eligible = (min_similarity <= S) | (overlap >= min_overlap)
    score = np.where(eligible, S + jaccard, _FORBIDDEN)
    rows, cols = linear_sum_assignment(score, maximize=True)
    match_of_new: dict[int, int] = {}
    for j, i in zip(rows.tolist(), cols.tolist(), strict=True):
        if eligible[j, i]:
            match_of_new[j] = i
    match_of_prev = {i: j for j, i in match_of_new.items()}

    for j, i in sorted(match_of_new.items()):
        result.assigned[j] = prev_ids[i]
        result.events.append(
            LineageEvent(CONTINUE, prev_ids[i], j, (), float(S[j, i]), float(jaccard[j, i]))
        )
    # Merges: unmatched previous themes absorbed by a matched new cluster.
    for i in range(n_prev):
        if i in match_of_prev:
            continue
        if have_members:
            j = int(share_of_prev[:, i].argmax())
            ok = share_of_prev[j, i] >= min_overlap
        else:
            j = int(S[:, i].argmax())
            ok = S[j, i] >= min_similarity
        if ok and j in match_of_new:
            survivor = prev_ids[match_of_new[j]]
            result.merged[prev_ids[i]] = survivor
            result.events.append(
                LineageEvent(MERGE, survivor, j, (prev_ids[i],), float(S[j, i]),
                             float(share_of_prev[j, i]))
            )
        else:
            result.retired.append(prev_ids[i])
            result.events.append(LineageEvent(RETIRE, prev_ids[i], None, (),
                                              float(S[:, i].max())))
    # Births, some of them split off a matched previous theme.
    for j in range(n_new):
        if j in match_of_new:
            continue
        result.births.append(j)
        if have_members:
            i = int(share_of_new[j].argmax())
            ok = share_of_new[j, i] >= min_overlap
        else:
            i = int(S[j].argmax())
            ok = S[j, i] >= min_similarity
        if ok and i in match_of_prev:
            parent = prev_ids[i]
            result.parents[j] = parent
            sim, ov = float(S[j, i]), float(share_of_new[j, i])
            result.events.append(LineageEvent(SPLIT, parent, j, (parent,), sim, ov))
            result.events.append(LineageEvent(BIRTH, None, j, (parent,), sim, ov))
        else:
            result.events.append(LineageEvent(BIRTH, None, j, (), float(S[j].max()), 0.0))
    return result


def fold_splits(
    result: MatchResult, new_centroids: np.ndarray, min_similarity: float = 0.5
) -> dict[int, int]:
    """Split births that should stay part of their parent: `{birth index: index of the new
    cluster that continues the parent}`.

    A split birth is a new cluster whose members mostly belonged to one previous theme that
    also continues. When its centroid is at least `min_similarity` (cosine) to that
    continuing cluster, the previous run's single theme is kept: a re-clustering that cuts
    an existing theme differently (UMAP on slightly different data) must not move its items
    to a new id. A genuinely new group (mostly new or unassigned items) has no parent and is
    never folded.
    """
    check_float("min_similarity", min_similarity, -1.0, 1.0)
    N = l2_normalize(as_matrix("new_centroids", new_centroids))
    continuing = {tid: j for j, tid in enumerate(result.assigned) if tid is not None}
    folds: dict[int, int] = {}
    for j, parent in sorted(result.parents.items()):
        k = continuing.get(parent)
        if k is not None and float(N[j] @ N[k]) >= min_similarity:
            folds[j] = k
    return folds
