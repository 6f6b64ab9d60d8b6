"""Ensembles between retrains: which tensors belong to members whose number is a
hyperparameter (scikit-learn's `n_estimators`, `max_iter`), so that a retrain with more or
fewer members is told apart from a changed model. Pure functions of tensor names and shapes."""

from __future__ import annotations

import re
from collections.abc import Iterable

from weightops.model.formats.base import TREE
from weightops.model.stats import TensorStats

# scikit-learn's naming of what fit() sets: `estimators_`, `estimator_weights_`, `_predictors`.
_FITTED = re.compile(r"\w+_|_\w+")


def grown_lists(old: Iterable[str], new: Iterable[str]) -> dict[str, tuple[int, int]]:
    """Fitted lists whose length changed between retrains: path -> (old length, new length).
    A list is a fitted attribute (scikit-learn's naming) whose items name tensors `PATH.0...`,
    `PATH.1...`, numbered without a gap on both sides (IsolationForest's
    `_average_path_length_per_tree`, HistGradientBoosting's `_predictors`); a network's
    `layers.N` is not one, so a layer added to a network still fails."""
    a, b = _fitted_lists(old), _fitted_lists(new)
    return {p: (len(a[p]), len(b[p])) for p in a.keys() & b.keys()
            if len(a[p]) != len(b[p]) and a[p] == set(range(len(a[p]))) and b[p] == set(range(len(b[p])))}


def _fitted_lists(names: Iterable[str]) -> dict[str, set[int]]:
    """Fitted lists (scikit-learn naming) among tensor `names`: path -> the item numbers seen."""
    found: dict[str, set[int]] = {}
    for name in names:
        parts = name.split(".")
        for i in range(len(parts) - 1):
            if parts[i + 1].isdigit() and _FITTED.fullmatch(parts[i]):
                found.setdefault(".".join(parts[:i + 1]), set()).add(int(parts[i + 1]))
    return found


def per_tree(name: str, old: dict[str, TensorStats], new: dict[str, TensorStats]) -> bool:
    """Is `name` an item of a fitted list of bare arrays kept beside a forest's trees, one array
    per tree and as long as that tree (IsolationForest's `_average_path_length_per_tree.3`)? Its
    shape is the tree's node count, which training finds, as a tree table's is."""
    parent, _, index = name.rpartition(".")
    holder, _, attr = parent.rpartition(".")
    if not (index.isdigit() and _FITTED.fullmatch(attr)):
        return False
    trees = f"{holder}.estimators_.{index}." if holder else f"estimators_.{index}."
    return all(any(n.startswith(trees) and side[n].role == TREE for n in side) for side in (old, new))


def grown_member(name: str, grown: dict[str, tuple[int, int]]) -> str | None:
    """`PATH.N` when `name` lies inside item N of a grown list PATH; else None."""
    parts = name.split(".")
    for i in range(len(parts) - 1, 0, -1):
        if parts[i].isdigit() and ".".join(parts[:i]) in grown:
            return ".".join(parts[:i + 1])
    return None


def per_member(name: str, a: tuple[int, ...], b: tuple[int, ...], grown: dict[str, tuple[int, int]]) -> bool:
    """Is tensor `name` (shapes `a` -> `b`) a fitted per-member array of an estimator whose member
    list grew: the same estimator (path), only the first axis changed, and in proportion to the
    list (GradientBoosting keeps K trees a stage, so 30 -> 45 trees for 10 -> 15 stages)?"""
    parent, _, leaf = name.rpartition(".")
    if not (_FITTED.fullmatch(leaf) and a and b and len(a) == len(b) and a[1:] == b[1:] and a[0] and b[0]):
        return False
    return any(p.rpartition(".")[0] == parent and n_old * b[0] == n_new * a[0] and n_old % a[0] == 0
               for p, (n_old, n_new) in grown.items())


def members_line(change: str, members: set[str]) -> str:
    """`ensemble members added: 5 (estimators_.15, ..., estimators_.19)`, in numeric order; the
    lists that grew with the first one are named after it (`; also estimators_features_`)."""
    def key(m: str) -> list:
        return [(0, int(p), "") if p.isdigit() else (1, 0, p) for p in m.split(".")]
    by_list: dict[str, list[str]] = {}
    for m in sorted(members, key=key):
        by_list.setdefault(m.rstrip("0123456789.") if "." in m else m, []).append(m)
    first, *others = sorted(by_list, key=lambda p: (-len(by_list[p]), not p.endswith("estimators_"), p))
    shown = by_list[first]
    listed = ", ".join(shown) if len(shown) <= 4 else f"{', '.join(shown[:2])}, ..., {shown[-1]}"
    also = f"; also {', '.join(others)}" if others else ""
    return f"ensemble members {change}: {len(shown)} ({listed}{also})"
