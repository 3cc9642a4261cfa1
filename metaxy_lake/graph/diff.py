"""What changed between two graph snapshots (or a snapshot and the code).

A feature is *added*, *removed*, *changed* (its own definition differs: a code version, a
field, a dependency, a column) or *downstream* (its definition is the same, but its
version changes because an upstream field's version did). Unchanged features are not
listed. Field changes carry old → new versions and code versions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from metaxy_lake.graph.snapshot import FeatureSnapshot, FieldSnapshot, GraphSnapshot

Status = Literal["added", "removed", "changed", "downstream"]


@dataclass(frozen=True)
class FieldChange:
    """One field that is new, gone, or whose version changed."""

    key: str
    status: Literal["added", "removed", "changed"]
    old_version: str | None
    new_version: str | None
    old_code_version: str | None
    new_code_version: str | None

    def to_json(self) -> dict[str, Any]:
        """The change as a JSON-able dict."""
        return {
            "field": self.key,
            "status": self.status,
            "version": {"old": self.old_version, "new": self.new_version},
            "code_version": {"old": self.old_code_version, "new": self.new_code_version},
        }


@dataclass(frozen=True)
class FeatureChange:
    """One feature that is new, gone, changed, or changed only because of its upstream.

    Attributes:
        because_of: For ``downstream``: the changed upstream features it depends on.
    """

    key: str
    status: Status
    old_version: str | None
    new_version: str | None
    fields: tuple[FieldChange, ...]
    because_of: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """The change as a JSON-able dict."""
        out: dict[str, Any] = {
            "feature": self.key,
            "status": self.status,
            "version": {"old": self.old_version, "new": self.new_version},
            "fields": [f.to_json() for f in self.fields],
        }
        if self.because_of:
            out["because_of"] = list(self.because_of)
        return out


@dataclass(frozen=True)
class GraphDiff:
    """The changes from ``old`` to ``new``, in the new graph's topological order."""

    old: GraphSnapshot
    new: GraphSnapshot
    changes: tuple[FeatureChange, ...]

    @property
    def is_empty(self) -> bool:
        """Whether nothing changed."""
        return not self.changes

    def by_status(self, status: Status) -> list[str]:
        """Keys of the features with that status."""
        return [c.key for c in self.changes if c.status == status]

    def change_of(self, key: str) -> FeatureChange | None:
        """The change of one feature (None when it did not change)."""
        return next((c for c in self.changes if c.key == key), None)

    def to_json(self) -> dict[str, Any]:
        """The diff as a JSON-able dict: only features that changed are listed."""
        return {
            "from": self.old.version or None,
            "to": self.new.version,
            "added": self.by_status("added"),
            "removed": self.by_status("removed"),
            "changed": self.by_status("changed"),
            "downstream": self.by_status("downstream"),
            "features": [c.to_json() for c in self.changes],
        }


def _field_changes(old: FeatureSnapshot | None, new: FeatureSnapshot | None) -> list[FieldChange]:
    before: dict[str, FieldSnapshot] = {f.key: f for f in old.fields} if old else {}
    after: dict[str, FieldSnapshot] = {f.key: f for f in new.fields} if new else {}
    out = []
    for key in sorted(before.keys() | after.keys()):
        a, b = before.get(key), after.get(key)
        if a is not None and b is not None and a.version == b.version:
            continue
        status: Literal["added", "removed", "changed"] = (
            "added" if a is None else "removed" if b is None else "changed"
        )
        out.append(
            FieldChange(
                key,
                status,
                a.version if a else None,
                b.version if b else None,
                a.code_version if a else None,
                b.code_version if b else None,
            )
        )
    return out


def _own_definition(feature: FeatureSnapshot) -> Any:
    """What a feature declares itself, leaving out the versions its upstream decides."""
    data = feature.to_json()
    del data["version"]
    for f in data["fields"]:
        del f["version"]
    return data


def diff(old: GraphSnapshot, new: GraphSnapshot) -> GraphDiff:
    """The changes from ``old`` to ``new``."""
    changes: list[FeatureChange] = []
    order = new.topological() + [k for k in old.topological() if k not in new.features]
    for key in order:
        a, b = old.features.get(key), new.features.get(key)
        if a is not None and b is not None and a.version == b.version:
            continue
        fields = tuple(_field_changes(a, b))
        if a is None or b is None:
            status: Status = "added" if a is None else "removed"
            old_version = a.version if a is not None else None
            new_version = b.version if b is not None else None
            changes.append(FeatureChange(key, status, old_version, new_version, fields))
            continue
        own = _own_definition(a) != _own_definition(b)
        changed = {c.key for c in changes}
        because = tuple(d for d in b.dependencies if d in changed)
        status = "changed" if own or not because else "downstream"
        changes.append(
            FeatureChange(key, status, a.version, b.version, fields, () if own else because)
        )
    return GraphDiff(old, new, tuple(changes))
