"""The digests that name a resolve: its definition's fingerprint and the increment's id."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence

from metaxy_lake.engine.recipe import HashSettings
from metaxy_lake.engine.relations import Relation
from metaxy_lake.engine.sql import idents
from metaxy_lake.graph import FeatureDefinition
from metaxy_lake.store.resolve.sources import Source


def fingerprint(definition: FeatureDefinition, settings: HashSettings) -> str:
    """A digest of everything the target's provenance is computed from but the data.

    Its fields with their code versions and upstream fields (after any fields mapping),
    every dep with its ids, columns, rename, lineage and optional flag, and the hash
    settings. Filters are part of the scope.
    """
    spec = {
        "feature": str(definition.key),
        "ids": list(definition.id_columns),
        "join": list(definition.join_columns),
        "fields": [
            [str(f.key), f.code_version, [[str(k), str(fk)] for k, fk in f.deps]]
            for f in definition.fields
        ],
        "deps": [
            {
                "key": str(d.key),
                "ids": dict(d.id_columns),
                "columns": dict(d.columns),
                "renamed": dict(d.renamed),
                "keys": list(d.keys),
                "lineage": d.lineage,
                "optional": d.optional,
            }
            for d in definition.deps
        ],
        "algorithm": settings.algorithm,
        "length": settings.length,
    }
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()


def increment_id(
    definition: str,
    scope: str | None,
    sources: Sequence[Source],
    samples: str | None = None,
) -> str:
    """``Increment.id``: a digest of the definition, scope and every table's version.

    Args:
        definition: The resolved definition's ``fingerprint``.
        scope: ``RenderedScope.text`` (None: filters that cannot be rendered).
        sources: Every table read.
        samples: A digest of a root's ``samples``, when given.
    """
    tables: list[list[object]] = [
        [str(s.feature), s.part.store.root]
        + ([] if s.part.table is None else [s.part.table.identity, s.part.table.version])
        for s in sources
    ]
    spec = {
        "definition": definition,
        "scope": scope,
        "tables": tables,
        "samples": samples,
    }
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:32]


def samples_digest(samples: Relation | None) -> str | None:
    """A digest of a root's samples (ids and provenance), in no particular order."""
    if samples is None:
        return None
    rows = samples.project(f"md5(CAST(({idents(samples.columns)}) AS VARCHAR)) AS row").aggregate(
        "md5(string_agg(row, '' ORDER BY row))"
    )
    found = rows.fetchall()
    return str(found[0][0])
