"""What a target should hold: the expected rows an increment compares its live rows with.

``expected_from_upstream`` builds a non-root feature's from its deps' live rows (a
provenance per field, then per sample; an aggregation dep contributes one row per group,
``_upstream_relation``), ``expected_from_samples`` a root's from the samples given. Both
stay lazy and lean: ``Expected.finish`` builds the remaining system columns only for the
rows that need work (``engine.increment.compare``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import narwhals as nw

from metaxy_lake.engine.maps import pair, pair_to_map, pair_value
from metaxy_lake.engine.recipe import (
    HashSettings,
    field_provenance,
    group_hash,
    map_value,
    sample_hash,
)
from metaxy_lake.engine.relations import (
    SRC,
    Relation,
    in_shard,
    latest,
    narwhals_filter,
    only_samples,
    query,
)
from metaxy_lake.engine.sql import ident, idents, string_map
from metaxy_lake.graph.definition import FeatureDefinition, ResolvedDep
from metaxy_lake.graph.keys import FeatureKey, FieldKey
from metaxy_lake.schema import (
    DATA_VERSION,
    DATA_VERSION_BY_FIELD,
    INCREMENT_SYSTEM_COLUMNS,
    PROVENANCE,
    PROVENANCE_BY_FIELD,
    SYSTEM_COLUMNS,
    UPSTREAM,
)


@dataclass(frozen=True)
class UpstreamInput:
    """One dependency: its resolved spec, all its rows, and the filters for its live rows."""

    dep: ResolvedDep
    rows: Relation
    filters: Sequence[nw.Expr]


def renamed_rows(rows: Relation, dep: ResolvedDep) -> Relation:
    """A dependency's rows with every column under its name after ``rename``.

    The dep's filters name columns so (they may name one that is not carried).
    """
    renames = {**dep.renamed, **dep.columns}
    names = set(renames.values())
    projection = [f"{ident(s)} AS {ident(n)}" for s, n in renames.items() if s in rows.columns]
    projection += [ident(c) for c in SYSTEM_COLUMNS]
    projection += [ident(c) for c in rows.columns if c not in renames and c not in names]
    return rows.project(", ".join(dict.fromkeys(projection)))


def _upstream_relation(
    index: int,
    source: UpstreamInput,
    definition: FeatureDefinition,
    settings: HashSettings,
    shard: tuple[int, int] | None,
    global_filters: Sequence[nw.Expr],
    candidates: Relation | None,
    early: bool,
) -> tuple[Relation, dict[tuple[FeatureKey, FieldKey], str]]:
    """Live, filtered rows of one dependency with the values the recipe needs extracted.

    For an aggregation, one row per group: each value is the hash of the group's values
    joined by ``|`` in upstream id order, and carried columns are lists in that order.
    """
    dep = source.dep
    rows = source.rows
    keys = definition.join_columns
    if candidates is not None:
        rows = only_samples(rows, candidates, dep.id_columns)
    if early:  # the filters see one row at a time: other shards' rows change nothing
        stored = {name: column for column, name in dep.id_columns.items()}
        rows = early_shard(rows, [stored.get(k, "") for k in keys], dep.id_columns, shard)
    live = latest(rows, list(dep.id_columns))
    renamed = narwhals_filter(renamed_rows(live, dep), [*source.filters, *global_filters])
    renamed = in_shard(renamed, keys, shard)

    values: dict[tuple[FeatureKey, FieldKey], str] = {}
    for field in definition.fields:
        for up_key, up_field in field.deps:
            if up_key == dep.key and (up_key, up_field) not in values:
                values[(up_key, up_field)] = f"_mxl_d{index}_v{len(values)}"
    user = [n for n in dep.columns.values() if n not in dep.keys]
    extracted = {
        alias: map_value(DATA_VERSION_BY_FIELD, str(f)) for (_, f), alias in values.items()
    }
    extracted[f"_mxl_d{index}_dv"] = ident(DATA_VERSION)
    columns = [ident(c) for c in keys]
    group = ""
    if dep.lineage == "aggregation":  # a row whose group column is null is in no group
        order = idents(dep.id_columns.values())
        columns += [f"list({ident(c)} ORDER BY {order}) AS {ident(c)}" for c in user]
        columns += [
            f"{group_hash(sql, order, settings)} AS {ident(alias)}"
            for alias, sql in extracted.items()
        ]
        group = f" WHERE {named(keys)} GROUP BY {idents(keys)}"
    else:
        columns += [ident(c) for c in user]
        columns += [f"{sql} AS {ident(alias)}" for alias, sql in extracted.items()]
    if dep.optional:  # tells a missing row (its values are '') from a null value (an error)
        columns.append(f"true AS {_present(index)}")
    return query(renamed, f"SELECT {', '.join(columns)} FROM {SRC}{group}"), values


def early_shard(
    rows: Relation,
    columns: Sequence[str],
    id_columns: Iterable[str],
    shard: tuple[int, int] | None,
) -> Relation:
    """Keep a shard's samples before the live-row rule, where the shard is one of ids.

    When the shard's ``columns`` are all id columns of ``rows``, every row of a sample is
    in the same shard, so filtering first changes nothing but the work (for filters that
    look at one row at a time, which the caller checks): DuckDB does not
    push the shard's filter through the live-row rule, and without this each of n shard
    workers ranked every row (measured at 1M samples: a shard's peak RSS 0.57 GiB against
    0.74 GiB unsharded, whatever n). The filter after the rule stays, for the others.
    """
    if shard is None or not set(columns) <= set(id_columns):
        return rows
    return in_shard(rows, columns, shard)


def named(keys: Sequence[str]) -> str:
    """SQL: every one of ``keys`` is set (a row names its group or its parent)."""
    return " AND ".join(f"{ident(k)} IS NOT NULL" for k in keys)


def _present(index: int) -> str:
    return f"_mxl_d{index}_p"


def _or_empty(source: UpstreamInput, index: int, column: str) -> str:
    """An upstream column, or ``''`` where an optional dep has no row for the sample."""
    if not source.dep.optional:
        return ident(column)
    return f"CASE WHEN {_present(index)} THEN {ident(column)} ELSE '' END"


@dataclass(frozen=True)
class Expected:
    """What the target should hold, kept lean until the rows that need work are known.

    Attributes:
        rows: The id columns, the carried (or root user) columns, ``metaxy_provenance``
            and the columns ``finish`` and ``field_values`` read.
        field_values: Field key → SQL (over ``rows``) for that field's expected provenance.
        finish: Column → SQL (over ``rows``) for the system columns ``rows`` lacks, built
            only for the rows that need work.
        hidden: Columns of ``rows`` that the increment does not show.
    """

    rows: Relation
    field_values: dict[str, str]
    finish: dict[str, str]
    hidden: tuple[str, ...] = ()

    @property
    def columns(self) -> list[str]:
        """The columns of new rows: ids, carried or user columns, then system columns."""
        shown = [c for c in self.rows.columns if c not in self.hidden]
        return [c for c in shown if c not in INCREMENT_SYSTEM_COLUMNS] + list(
            INCREMENT_SYSTEM_COLUMNS
        )


def expected_from_upstream(
    definition: FeatureDefinition,
    upstream: Sequence[UpstreamInput],
    settings: HashSettings,
    global_filters: Sequence[nw.Expr],
    shard: tuple[int, int] | None,
    candidates: Relation | None = None,
    early: bool = False,
) -> Expected:
    """What a non-root feature should hold: provenance from its deps' live rows.

    ``early``: the filters are row by row, so the shard may be taken before the live-row
    rule.
    """
    joined: Relation | None = None
    value_sql: dict[tuple[FeatureKey, FieldKey], str] = {}
    every_optional = all(source.dep.optional for source in upstream)
    # required deps inner-joined first, then optional ones left-joined (full outer, the
    # id columns merged, when every dep is optional)
    order = sorted(range(len(upstream)), key=lambda i: upstream[i].dep.optional)
    for index in order:
        source = upstream[index]
        rel, dep_values = _upstream_relation(
            index, source, definition, settings, shard, global_filters, candidates, early
        )
        value_sql.update({k: _or_empty(source, index, a) for k, a in dep_values.items()})
        how = "outer" if every_optional else "left" if source.dep.optional else "inner"
        joined = rel if joined is None else joined.join(rel, list(definition.join_columns), how=how)
    assert joined is not None, "a non-root feature has dependencies"

    fields = sorted(definition.fields, key=lambda f: str(f.key))
    aliases = {str(f.key): f"_mxl_fp{i}" for i, f in enumerate(fields)}
    versions = [f"_mxl_d{i}_dv" for i in range(len(upstream))]
    inner = [ident(c) for c in (*definition.join_columns, *definition.carried_columns())]
    inner += [
        f"{_or_empty(source, i, v)} AS {v}"
        for i, (source, v) in enumerate(zip(upstream, versions, strict=True))
    ]
    inner += [
        f"{field_provenance(definition, f, lambda k, fk: value_sql[(k, fk)], settings)} "
        f"AS {aliases[str(f.key)]}"
        for f in fields
    ]
    hashed = query(joined, f"SELECT {', '.join(inner)} FROM {SRC}")
    rows = hashed.project(f"*, {sample_hash(aliases, settings)} AS {ident(PROVENANCE)}")
    finish = {
        PROVENANCE_BY_FIELD: string_map(aliases, aliases.values()),
        UPSTREAM: string_map((str(s.dep.key) for s in upstream), versions),
    }
    return Expected(rows, aliases, finish, hidden=(*aliases.values(), *versions))


def expected_from_samples(
    definition: FeatureDefinition,
    samples: Relation,
    settings: HashSettings,
    global_filters: Sequence[nw.Expr],
    shard: tuple[int, int] | None,
) -> Expected:
    """What a root feature should hold, given the complete current set of samples.

    ``samples`` carries the id columns, ``metaxy_provenance_by_field`` (as a pair,
    ``engine.maps``, with exactly the declared fields) and any user columns.
    """
    rel = in_shard(narwhals_filter(samples, global_filters), definition.id_columns, shard)
    values = {k: pair_value(PROVENANCE_BY_FIELD, k) for k in definition.field_names}
    hidden = pair(PROVENANCE_BY_FIELD)
    keep = [c for c in rel.columns if c not in INCREMENT_SYSTEM_COLUMNS and c not in hidden]
    columns = [ident(c) for c in (*keep, *hidden)]
    columns.append(f"{sample_hash(values, settings)} AS {ident(PROVENANCE)}")
    finish = {PROVENANCE_BY_FIELD: pair_to_map(PROVENANCE_BY_FIELD), UPSTREAM: string_map([], [])}
    return Expected(rel.project(", ".join(columns)), values, finish, hidden=hidden)
