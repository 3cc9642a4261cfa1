"""Property test: ``resolve_update`` equals a brute-force model of docs/design.md.

Random feature graphs (roots and non-roots, default and explicit field dependencies, one
or two id columns, random code versions) go through random steps: root data changes, new
and dropped root samples, code version bumps (a fresh ``FeatureGraph`` with the same keys),
soft deletes and data-version overrides. After every step a pipeline pass resolves every
feature in topological order, compares the increment with the model, then writes some or
all of it (sometimes with overridden data versions) and deletes some orphans, so the
features drift apart.

The model is written from docs/design.md only, in plain Python with ``hashlib``: nothing is
imported from ``metaxy_lake.engine`` or ``metaxy_lake.versioning``.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import math
import operator
import tempfile
from dataclasses import dataclass, field, replace
from typing import Any
from unittest import mock

import narwhals as nw
import polars as pl
import pytest
from helpers import as_dict, string_map
from hypothesis import event, given, note, settings
from hypothesis import strategies as st

import metaxy_lake as mxl
from metaxy_lake.store.resolve import checkpointing

# Feature keys whose fq field keys sort in a non-obvious bytewise order
# ('.' < '/' < 'A' < '_' < 'a'); field keys likewise, with a multi-part key.
KEY_POOL = ("vid", "vid/crop", "vid_crop", "Vid", "vidA", "a/b/c", "z9")
FIELD_POOL = ("audio", "frames", "x", "x/y", "Z", "default", "a_b")
INITIAL_CODE_VERSION = "__metaxy_initial__"  # docs/design.md, Concepts
DEFAULT_FIELD = "default"  # docs/design.md: fields omitted means one field `default`
ID_LAYOUTS = (("sample_uid",), ("a", "b"))
MAX_SAMPLES = 12

PBF = "metaxy_provenance_by_field"
PROV = "metaxy_provenance"
DVBF = "metaxy_data_version_by_field"
DV = "metaxy_data_version"
UPSTREAM = "metaxy_upstream"
CHANGED = "metaxy_changed_fields"

Ids = tuple[str, ...]

# Root provenance as callers give it: short odd text ('/' and '.' as in field keys,
# non-ASCII, empty) or checksums longer than any hash length (stored as given, never
# truncated). A value holding '|' is refused (tests/test_error_quality.py).
values = st.text(alphabet="ab/.é0", max_size=3) | st.integers(0, 99).map(
    lambda n: hashlib.sha256(str(n).encode()).hexdigest() + f"-file{n}"
)


def bytewise(keys: Any) -> list[str]:
    return sorted(keys, key=lambda k: k.encode("utf-8"))


# --- the generated graph ---------------------------------------------------------------------


@dataclass
class FieldModel:
    key: str
    code_version: str | int | None  # None: not given, so the default applies
    deps: list[tuple[int, list[str] | None]] | None  # None: the default mapping
    plain: bool = False  # declare as a plain string when nothing else is set
    refs_as_keys: bool = False  # FieldDep(feature key text) rather than the class

    @property
    def code_version_text(self) -> str:
        return INITIAL_CODE_VERSION if self.code_version is None else str(self.code_version)


@dataclass
class MappingModel:
    """A dep's fields mapping: ``default`` (with suffix matching and exclusions),
    ``specific`` (field -> upstream fields), ``all`` or ``none``
    (docs/design.md, Fields mapping)."""

    kind: str = "default"
    match_suffix: bool = False
    exclude: list[str] = field(default_factory=list)
    specific: dict[str, list[str]] = field(default_factory=dict)

    def take(self, key: str, upstream: list[str]) -> list[str]:
        if self.kind == "all":
            return list(upstream)
        if self.kind == "none":
            return []
        if self.kind == "specific":
            return [u for u in upstream if u in self.specific.get(key, [])]
        kept = [u for u in upstream if u not in self.exclude]
        parts = key.split("/")
        same = [
            u
            for u in kept
            if u == key or (self.match_suffix and u.split("/")[-len(parts) :] == parts)
        ]
        return same or kept

    def build(self) -> mxl.FieldsMapping:
        if self.kind == "default":
            return mxl.FieldsMapping.default(
                match_suffix=self.match_suffix, exclude_fields=self.exclude
            )
        if self.kind == "specific":
            return mxl.FieldsMapping.specific(self.specific)
        return getattr(mxl.FieldsMapping, self.kind)()


@dataclass
class FeatureModel:
    index: int
    key: str
    deps: list[int]
    dep_styles: list[str]
    fields: list[FieldModel]
    fields_omitted: bool
    optional: list[bool] = field(default_factory=list)
    mappings: list[MappingModel] = field(default_factory=list)

    def is_optional(self, j: int) -> bool:
        return bool(self.optional) and self.optional[self.deps.index(j)]

    def mapping(self, j: int) -> MappingModel:
        return self.mappings[self.deps.index(j)] if self.mappings else MappingModel()

    @property
    def is_root(self) -> bool:
        return not self.deps

    @property
    def user_column(self) -> str | None:
        return f"col_{self.index}" if self.is_root else None

    @property
    def field_keys(self) -> list[str]:
        return bytewise(f.key for f in self.fields)


@dataclass
class GraphModel:
    id_columns: tuple[str, ...]
    hash_length: int
    algorithm: str
    features: list[FeatureModel]

    def id_pool(self) -> list[Ids]:
        if len(self.id_columns) == 1:
            return [(f"s{k}",) for k in range(MAX_SAMPLES)]
        return [(f"s{k}", b) for k in range(MAX_SAMPLES // 2) for b in ("x", "y")]


@st.composite
def mapping_models(draw: st.DrawFn, names: list[str], upstream: list[str]) -> MappingModel:
    kind = draw(st.sampled_from(["default", "default", "default", "specific", "all", "none"]))
    if kind == "specific":
        chosen = draw(st.lists(st.sampled_from(names), unique=True))
        pick = st.lists(st.sampled_from(upstream), unique=True)
        return MappingModel(kind, specific={n: draw(pick) for n in chosen})
    if kind == "default":
        exclude = draw(st.lists(st.sampled_from(upstream), max_size=2, unique=True))
        return MappingModel(kind, draw(st.booleans()), exclude)
    return MappingModel(kind)


@st.composite
def graph_models(draw: st.DrawFn) -> GraphModel:
    n = draw(st.sampled_from([4, 3, 5, 2, 4, 3, 5, 1]), label="features")
    keys = draw(st.permutations(KEY_POOL), label="keys")[:n]
    features: list[FeatureModel] = []
    for i in range(n):
        # the last feature of a graph of two or more is never a root
        root = i == 0 or (i < n - 1 and draw(st.sampled_from([False, False, False, True])))
        deps: list[int] = []
        if not root:
            deps = draw(st.lists(st.integers(0, i - 1), min_size=1, max_size=3, unique=True))
        styles = [draw(st.sampled_from(["class", "key", "dep"])) for _ in deps]
        omitted = draw(st.integers(0, 6)) == 0
        # upstream field keys first, so that the default mapping often picks one field
        upstream_keys = [k for j in deps for k in features[j].field_keys]
        pool = list(dict.fromkeys([*upstream_keys, *FIELD_POOL]))
        names = (
            [DEFAULT_FIELD]
            if omitted
            # roots have two or more fields, so that a change can miss a downstream field
            else draw(
                st.lists(st.sampled_from(pool), min_size=2 if root else 1, max_size=4, unique=True)
            )
        )
        fields = []
        for name in names:
            cv = None if omitted else draw(st.sampled_from([None, None, "1", "v2", 3]))
            fdeps = None
            if deps and not omitted and draw(st.booleans()):
                fdeps = []
                for _ in range(draw(st.sampled_from([1, 2, 0, 1, 3]))):
                    j = draw(st.sampled_from(deps))
                    up = features[j].field_keys
                    # a few upstream fields (as Faces on Crop.frames), or all of them (None)
                    sel = draw(
                        st.lists(st.sampled_from(up), min_size=1, max_size=len(up), unique=True)
                        | st.none()
                    )
                    fdeps.append((j, sel))
            fields.append(FieldModel(name, cv, fdeps, draw(st.booleans()), draw(st.booleans())))
        optional = [draw(st.sampled_from([False, False, False, True])) for _ in deps]
        mappings = [draw(mapping_models(names, features[j].field_keys)) for j in deps]
        features.append(FeatureModel(i, keys[i], deps, styles, fields, omitted, optional, mappings))
    return GraphModel(
        id_columns=draw(st.sampled_from(ID_LAYOUTS), label="id_columns"),
        hash_length=draw(st.integers(8, 64), label="hash_length"),
        algorithm=draw(st.sampled_from(["md5", "sha256"]), label="algorithm"),
        features=features,
    )


@st.composite
def reference_graphs(draw: st.DrawFn) -> GraphModel:
    """The reference graph (Video -> Crop -> Faces, SpeechToText), randomly keyed.

    Faces and SpeechToText each read one Crop field, so most upstream changes reach only
    one of them: the case where the upstream data version changes and provenance does not.
    """
    keys = draw(st.permutations(KEY_POOL), label="keys")[:4]
    version = st.sampled_from([None, "1", "v2", 3])
    fields = [draw(st.sampled_from([["audio", "frames"], ["frames", "audio", "x"]]))]
    video = FeatureModel(0, keys[0], [], [], [FieldModel(k, None, None) for k in fields[0]], False)
    crop_fields = [FieldModel(k, draw(version), None, draw(st.booleans())) for k in fields[0]]
    crop = FeatureModel(
        1, keys[1], [0], [draw(st.sampled_from(["class", "key", "dep"]))], crop_fields, False
    )
    faces = FeatureModel(
        2, keys[2], [1], ["class"], [FieldModel("faces", draw(version), [(1, ["frames"])])], False
    )
    speech = FeatureModel(
        3,
        keys[3],
        [1],
        ["dep"],
        [FieldModel("transcript", draw(version), [(1, ["audio"])], refs_as_keys=True)],
        False,
    )
    return GraphModel(
        id_columns=draw(st.sampled_from(ID_LAYOUTS), label="id_columns"),
        hash_length=draw(st.integers(8, 64), label="hash_length"),
        algorithm=draw(st.sampled_from(["md5", "sha256"]), label="algorithm"),
        features=[video, crop, faces, speech],
    )


def build_classes(gm: GraphModel) -> list[type[mxl.Feature]]:
    """Define the graph's feature classes in a fresh FeatureGraph (graphs are immutable)."""
    graph = mxl.FeatureGraph(hash_length=gm.hash_length)
    classes: list[type[mxl.Feature]] = []
    with graph.use():
        for f in gm.features:
            deps: list[Any] = []
            for j, style in zip(f.deps, f.dep_styles, strict=True):
                ref = classes[j]
                shaped = f.is_optional(j) or f.mapping(j) != MappingModel()
                if shaped:  # a shape needs a FeatureDep
                    dep = mxl.FeatureDep(
                        ref if style == "class" else gm.features[j].key,
                        optional=f.is_optional(j),
                        fields_mapping=f.mapping(j).build(),
                    )
                    deps.append(dep)
                    continue
                deps.append(
                    {"class": ref, "key": gm.features[j].key, "dep": mxl.FeatureDep(ref)}[style]
                )
            fields: list[Any] | None = None
            if not f.fields_omitted:
                fields = []
                for fm in f.fields:
                    if fm.plain and fm.code_version is None and fm.deps is None:
                        fields.append(fm.key)
                        continue
                    kwargs: dict[str, Any] = {}
                    if fm.code_version is not None:
                        kwargs["code_version"] = fm.code_version
                    if fm.deps is not None:
                        kwargs["deps"] = [
                            mxl.FieldDep(gm.features[j].key if fm.refs_as_keys else classes[j], sel)
                            for j, sel in fm.deps
                        ]
                    fields.append(mxl.FieldSpec(fm.key, **kwargs))
            spec = mxl.FeatureSpec(
                key=f.key, deps=deps or None, fields=fields, id_columns=list(gm.id_columns)
            )
            namespace: dict[str, Any] = {"__module__": __name__}
            if f.user_column is not None:
                namespace["__annotations__"] = {f.user_column: str | None}
                namespace[f.user_column] = None
            classes.append(type(f"Feature{f.index}", (mxl.Feature,), namespace, spec=spec))
    return classes


# --- the brute-force model -------------------------------------------------------------------


@dataclass
class Row:
    pbf: dict[str, str]
    prov: str
    dvbf: dict[str, str]
    dv: str
    upstream: dict[str, str]
    user: str | None = None


@dataclass
class Expected:
    new: dict[Ids, Row]
    stale: dict[Ids, tuple[list[str], Row]]
    orphaned: set[Ids]


@dataclass
class Model:
    gm: GraphModel
    live: dict[str, dict[Ids, Row]] = field(default_factory=dict)
    world: dict[str, dict[Ids, dict[str, str]]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.live = {f.key: {} for f in self.gm.features}
        self.world = {f.key: {} for f in self.gm.features if f.is_root}

    def hash(self, text: str) -> str:
        digest = hashlib.new(self.gm.algorithm, text.encode("utf-8")).hexdigest()
        return digest[: self.gm.hash_length]

    def combine(self, by_field: dict[str, str]) -> str:
        return self.hash("|".join(by_field[k] for k in bytewise(by_field)))

    def upstream_fields(self, f: FeatureModel, fm: FieldModel) -> list[tuple[str, str]]:
        pairs: set[tuple[str, str]] = set()
        if fm.deps is None:
            for j in f.deps:
                up = self.gm.features[j]
                pairs |= {(up.key, k) for k in f.mapping(j).take(fm.key, up.field_keys)}
        else:
            for j, sel in fm.deps:
                up = self.gm.features[j]
                pairs |= {(up.key, k) for k in (up.field_keys if sel is None else sel)}
        return sorted(pairs, key=lambda p: f"{p[0]}.{p[1]}".encode())

    def expected(self, f: FeatureModel) -> dict[Ids, Row]:
        if f.is_root:
            return {
                ids: Row(dict(pbf), self.combine(pbf), dict(pbf), self.combine(pbf), {})
                for ids, pbf in self.world[f.key].items()
            }
        ups = [self.gm.features[j].key for j in f.deps]
        # required deps: samples all of them hold; every dep optional: any of them
        required = [self.gm.features[j].key for j in f.deps if not f.is_optional(j)]
        sets = [set(self.live[k]) for k in (required or ups)]
        common = set.intersection(*sets) if required else set.union(*sets)
        out = {}
        for ids in common:
            pbf = {}
            for fm in f.fields:
                parts = [fm.key, fm.code_version_text]
                for up_key, up_field in self.upstream_fields(f, fm):
                    row = self.live[up_key].get(ids)  # absent: an optional dep, hashed as ''
                    parts += [f"{up_key}.{up_field}", row.dvbf[up_field] if row else ""]
                pbf[fm.key] = self.hash("|".join(parts))
            prov = self.combine(pbf)
            upstream = {k: row.dv if (row := self.live[k].get(ids)) else "" for k in ups}
            out[ids] = Row(pbf, prov, dict(pbf), prov, upstream)
        return out

    def increment(self, f: FeatureModel) -> Expected:
        expected = self.expected(f)
        live = self.live[f.key]
        new = {ids: row for ids, row in expected.items() if ids not in live}
        stale = {}
        for ids, row in expected.items():
            if ids in live and live[ids].prov != row.prov:
                changed = [k for k in f.field_keys if live[ids].pbf.get(k) != row.pbf[k]]
                stale[ids] = (changed, row)
        return Expected(new, stale, set(live) - set(expected))

    def store_row(
        self, f: FeatureModel, ids: Ids, row: Row, override: dict[str, str], user: str | None
    ) -> None:
        dvbf = {**row.pbf, **override}
        self.live[f.key][ids] = replace(row, dvbf=dvbf, dv=self.combine(dvbf), user=user)


# --- comparing the store with the model ------------------------------------------------------


def ids_of(row: dict[str, Any], id_columns: tuple[str, ...]) -> Ids:
    return tuple(row[c] for c in id_columns)


def rows_by_id(frame: Any, id_columns: tuple[str, ...], what: str) -> dict[Ids, dict[str, Any]]:
    if isinstance(frame, nw.LazyFrame):
        frame = frame.collect().to_polars()
    rows = frame.to_dicts()
    out = {ids_of(r, id_columns): r for r in rows}
    assert len(out) == len(rows), f"{what}: duplicate ids in {sorted(out)} ({len(rows)} rows)"
    return out


def assert_row(actual: dict[str, Any], exp: Row, what: str) -> None:
    got = (
        as_dict(actual[PBF]),
        actual[PROV],
        as_dict(actual[DVBF]),
        actual[DV],
        as_dict(actual[UPSTREAM]),
    )
    want = (exp.pbf, exp.prov, exp.dvbf, exp.dv, exp.upstream)
    names = (PBF, PROV, DVBF, DV, UPSTREAM)
    for name, g, w in zip(names, got, want, strict=True):
        assert g == w, f"{what}: {name} is {g!r}, the model says {w!r}"


def assert_carried(actual: dict[str, Any], f: FeatureModel, model: Model, ids: Ids, what: str):
    for j in f.deps:
        up = model.gm.features[j]
        if up.user_column is not None:
            row = model.live[up.key].get(ids)  # none: an optional dep's columns are null
            want = row.user if row else None
            assert actual[up.user_column] == want, f"{what}: carried {up.user_column}"


def check_increment(
    inc: mxl.Increment, f: FeatureModel, model: Model, step: str
) -> tuple[list[pl.DataFrame], set[Ids], Expected]:
    """Compare an increment with the model; return its new and stale frames and their ids."""
    exp = model.increment(f)
    idc = model.gm.id_columns
    where = f"{step}: {f.key}"
    new_df = inc.new.collect().to_polars()
    stale_df = inc.stale.collect().to_polars()
    new = rows_by_id(new_df, idc, f"{where} new")
    stale = rows_by_id(stale_df, idc, f"{where} stale")
    orphaned = rows_by_id(inc.orphaned, idc, f"{where} orphaned")
    assert inc.counts() == {"new": len(new), "stale": len(stale), "orphaned": len(orphaned)}
    assert set(new) == set(exp.new), f"{where}: new {sorted(new)} != model {sorted(exp.new)}"
    assert set(stale) == set(exp.stale), (
        f"{where}: stale {sorted(stale)} != model {sorted(exp.stale)}"
    )
    assert set(orphaned) == exp.orphaned, (
        f"{where}: orphaned {sorted(orphaned)} != model {sorted(exp.orphaned)}"
    )
    for ids, row in new.items():
        assert_row(row, exp.new[ids], f"{where} new {ids}")
        assert_carried(row, f, model, ids, f"{where} new {ids}")
    for ids, row in stale.items():
        changed, want = exp.stale[ids]
        assert list(row[CHANGED]) == changed, (
            f"{where} stale {ids}: changed fields {row[CHANGED]} != model {changed}"
        )
        assert_row(row, want, f"{where} stale {ids}")
        assert_carried(row, f, model, ids, f"{where} stale {ids}")
    for ids, row in orphaned.items():
        assert_row(row, model.live[f.key][ids], f"{where} orphaned {ids}")
    return [new_df, stale_df], set(new) | set(stale), exp


def check_stored(store: mxl.LakeStore, cls: type, f: FeatureModel, model: Model, step: str):
    stored = rows_by_id(store.read(cls), model.gm.id_columns, f"{step}: read {f.key}")
    live = model.live[f.key]
    assert set(stored) == set(live), f"{step}: live {f.key} {sorted(stored)} != {sorted(live)}"
    for ids, row in stored.items():
        assert_row(row, live[ids], f"{step}: stored {f.key} {ids}")
        if f.user_column is not None:
            assert row[f.user_column] == live[ids].user, f"{step}: stored {f.key} {ids} user"


# --- acting on the store ---------------------------------------------------------------------


def id_filter(id_columns: tuple[str, ...], chosen: list[Ids]) -> Any:
    if len(id_columns) == 1:
        return nw.col(id_columns[0]).is_in([ids[0] for ids in chosen])
    per_sample = [
        functools.reduce(
            operator.and_, [nw.col(c) == v for c, v in zip(id_columns, ids, strict=True)]
        )
        for ids in chosen
    ]
    return functools.reduce(operator.or_, per_sample)


def subset(data: st.DataObject, items: Any, label: str, min_size: int = 0) -> list[Any]:
    pool = sorted(items)
    if len(pool) < max(min_size, 1):
        return []
    return data.draw(
        st.lists(st.sampled_from(pool), min_size=min_size, max_size=len(pool), unique=True),
        label=label,
    )


def draw_override(
    data: st.DataObject, fields: list[str], old: Row | None, label: str
) -> dict[str, str] | None:
    """A writer's partial data-version map: a constant content hash, the old value, or any."""
    if not data.draw(st.sampled_from([False, True, False, False]), label=f"{label} override"):
        return None
    out = {}
    for k in subset(data, fields, f"{label} overridden fields"):
        how = data.draw(st.sampled_from(["const", "keep", "any"]), label=f"{label} {k}")
        event(f"data-version override: {how}")
        if how == "keep" and old is not None:
            out[k] = old.dvbf[k]
        elif how == "any":
            out[k] = data.draw(values, label=f"{label} {k} value")
        else:
            out[k] = "c0nst"
    return out


def root_frame(
    model: Model, f: FeatureModel, chosen: list[Ids], data: st.DataObject, label: str
) -> pl.DataFrame:
    """Root rows (or samples) as a user builds them: ids and provenance as a map or struct."""
    idc = model.gm.id_columns
    pbfs = [model.world[f.key][ids] for ids in chosen]
    columns: dict[str, Any] = {
        c: pl.Series([ids[i] for ids in chosen], dtype=pl.String) for i, c in enumerate(idc)
    }
    as_struct = bool(chosen) and data.draw(st.booleans(), label=f"{label} struct")
    columns[PBF] = pl.Series(pbfs) if as_struct else string_map(pbfs)
    return pl.DataFrame(columns)


class Pipeline:
    def __init__(self, root: str, gm: GraphModel, data: st.DataObject, fmt: str) -> None:
        self.fmt = fmt
        self.root = root
        self.gm = gm
        self.data = data
        self.model = Model(gm)
        self.classes = build_classes(gm)
        self.store = mxl.LakeStore(root, format=fmt, hash_algorithm=gm.algorithm)
        self.counter = 0
        self.scope: tuple[tuple[int, int] | None, list[Ids]] | None = None

    def draw(self, strategy: st.SearchStrategy[Any], label: str) -> Any:
        return self.data.draw(strategy, label=label)

    def reopen(self) -> None:
        self.store = mxl.LakeStore(self.root, format=self.fmt, hash_algorithm=self.gm.algorithm)

    # writing

    def write_root(self, f: FeatureModel, chosen: list[Ids], step: str) -> None:
        if not chosen:
            return
        frame = root_frame(self.model, f, chosen, self.data, step)
        users: list[str | None] = []
        overrides: list[dict[str, str] | None] = []
        for ids in chosen:
            self.counter += 1
            users.append(self.draw(st.sampled_from([None, f"u{self.counter}"]), f"{step} user"))
            overrides.append(
                draw_override(self.data, f.field_keys, self.model.live[f.key].get(ids), step)
            )
        if any(u is not None for u in users) or self.draw(st.booleans(), f"{step} user col"):
            frame = frame.with_columns(pl.Series(f.user_column, users, dtype=pl.String))
        if any(o is not None for o in overrides):
            frame = frame.with_columns(string_map(overrides).alias(DVBF))
        self.store.write(self.classes[f.index], frame)
        expected = self.model.expected(f)
        for ids, user, override in zip(chosen, users, overrides, strict=True):
            self.model.store_row(f, ids, expected[ids], override or {}, user)

    def write_increment(
        self,
        f: FeatureModel,
        frames: list[pl.DataFrame],
        chosen: list[Ids],
        exp: dict[Ids, Row],
        step: str,
    ) -> None:
        """Write the chosen increment rows as the library returned them, some overridden."""
        if not chosen:
            return
        idc = self.gm.id_columns
        frame = pl.concat(frames, how="diagonal_relaxed")
        keep = set(chosen)
        frame = frame.filter(pl.Series([tuple(r) in keep for r in frame.select(idc).iter_rows()]))
        frame = frame.sort(list(idc))
        order = [tuple(r) for r in frame.select(idc).iter_rows()]
        overrides = [
            draw_override(self.data, f.field_keys, self.model.live[f.key].get(ids), step)
            for ids in order
        ]
        if CHANGED in frame.columns and self.draw(st.booleans(), f"{step} drop changed"):
            frame = frame.drop(CHANGED)
        if any(o is not None for o in overrides):
            frame = frame.with_columns(string_map(overrides).alias(DVBF))
        self.store.write(self.classes[f.index], frame)
        for ids, override in zip(order, overrides, strict=True):
            self.model.store_row(f, ids, exp[ids], override or {}, None)

    def delete(self, f: FeatureModel, chosen: list[Ids], step: str, soft: bool = True) -> None:
        if not chosen:
            return
        where = id_filter(self.gm.id_columns, chosen)
        result = self.store.delete(self.classes[f.index], where, soft=soft)
        if soft:  # a hard delete removes every row of a sample, its history too
            assert result.rows == len(chosen), f"{step}: deleted {result.rows} of {len(chosen)}"
        for ids in chosen:
            del self.model.live[f.key][ids]

    # the pipeline pass

    def run_pass(self, step: str) -> None:
        for f in self.gm.features:
            cls = self.classes[f.index]
            label = f"{step} / {f.key}"
            if f.is_root:
                samples = root_frame(
                    self.model, f, sorted(self.model.world[f.key]), self.data, label
                )
                inc = self.store.resolve_update(cls, samples=samples)
            else:
                inc = self.check_paths(cls, label)
            frames, todo, exp = check_increment(inc, f, self.model, label)
            kind = "root" if f.is_root else "non-root"
            for part, found in (("new", exp.new), ("stale", exp.stale), ("orphaned", exp.orphaned)):
                if found:
                    event(f"{kind} increment with {part} rows")
            if any(len(c) < len(f.fields) for c, _ in exp.stale.values()):
                event("stale with only some fields changed")
            live = self.model.live[f.key]
            if any(
                ids in live and live[ids].upstream != row.upstream and ids not in exp.stale
                for ids, row in self.model.expected(f).items()
            ):
                event("upstream data version changed, provenance did not")
            action = self.draw(
                st.sampled_from(["all", "some", "all", "none", "all"]), f"{label} act"
            )
            chosen = sorted(todo) if action == "all" else []
            if action == "some":
                chosen = subset(self.data, todo, f"{label} write")
            wrote = bool(chosen)
            if f.is_root:
                self.write_root(f, sorted(chosen), label)
            else:
                wanted = {**exp.new, **{k: v[1] for k, v in exp.stale.items()}}
                self.write_increment(f, frames, chosen, wanted, label)
            if exp.orphaned and self.draw(st.booleans(), f"{label} delete orphans"):
                self.delete(f, subset(self.data, exp.orphaned, f"{label} orphans", 1), label)
                wrote = True
            if wrote:
                check_stored(self.store, cls, f, self.model, label)

    def check_paths(self, cls: type[mxl.Feature], label: str) -> mxl.Increment:
        """Resolve from the checkpoint and in full: the same increment, also in a scope.

        Returns the default resolve (a checkpoint's where one is usable).
        """
        inc = self.store.resolve_update(cls)
        event(f"non-root resolved on the {inc.path} path")
        same_increment(inc, self.store.resolve_update(cls, checkpoint=False), self.gm, label)
        # a scope drawn once per example, so that later passes find its checkpoints; it
        # changes between passes too (a scope of its own, as a new shard count would be)
        if self.scope is None or self.draw(st.integers(0, 3), f"{label} new scope") == 0:
            shard = self.draw(st.sampled_from([None, (0, 2), (1, 2)]), f"{label} shard")
            pool = sorted(self.gm.id_pool())
            self.scope = (shard, subset(self.data, pool, f"{label} scope"))
        shard, chosen = self.scope
        filters = {cls: id_filter(self.gm.id_columns, chosen)} if chosen else None
        if (shard or filters) and self.draw(st.booleans(), f"{label} check scope"):
            scoped = self.store.resolve_update(cls, shard=shard, filters=filters)
            event(f"scoped resolve on the {scoped.path} path")
            full = self.store.resolve_update(cls, shard=shard, filters=filters, checkpoint=False)
            same_increment(scoped, full, self.gm, f"{label} scoped {shard} {chosen}")
        return inc

    # the steps

    def roots(self) -> list[FeatureModel]:
        return [f for f in self.gm.features if f.is_root]

    def step(self, n: int) -> str:
        kind = self.draw(
            st.sampled_from(
                # hypothesis favours early entries: the productive kinds come first
                [
                    "root_change",
                    "code_bump",
                    "root_change",
                    "override",
                    "delete",
                    "root_change",
                    "new_samples",
                    "drop_samples",
                    "code_bump",
                    "root_change",
                    "compact",
                    "hard_delete",
                    "expire",
                ]
            ),
            f"step {n}",
        )
        f = self.draw(st.sampled_from(self.gm.features), f"step {n} feature")
        if kind in ("root_change", "new_samples", "drop_samples") and not f.is_root:
            f = self.draw(st.sampled_from(self.roots()), f"step {n} root")
        others = [g for g in self.gm.features if not g.is_root]
        if kind == "code_bump" and others and f.is_root and self.draw(st.booleans(), "non-root"):
            f = self.draw(st.sampled_from(others), f"step {n} non-root")
        label = f"step {n} {kind} {f.key}"
        if kind == "root_change":
            world = self.model.world[f.key]
            # often one field (new audio files), the same for every changed sample
            keys = subset(self.data, f.field_keys, f"{label} fields", 1)
            for ids in subset(self.data, world, f"{label} ids", 1):
                for k in keys:
                    value = self.draw(values, f"{label} {ids} {k}")
                    changed = value if value != world[ids][k] else value + "'"
                    world[ids] = {**world[ids], k: changed}
        elif kind == "new_samples":
            world = self.model.world[f.key]
            free = set(self.gm.id_pool()) - set(world)
            for ids in subset(self.data, free, f"{label} ids", 1):
                world[ids] = {k: self.draw(values, f"{label} {ids} {k}") for k in f.field_keys}
        elif kind == "drop_samples":
            for ids in subset(self.data, self.model.world[f.key], f"{label} ids", 1):
                del self.model.world[f.key][ids]
        elif kind == "code_bump":
            for fm in subset(self.data, range(len(f.fields)), f"{label} fields", 1):
                fm_ = f.fields[fm]
                self.counter += 1
                fm_.code_version = f"b{self.counter}"
                f.fields_omitted = False
                label += f" {fm_.key}={fm_.code_version}"
            self.classes = build_classes(self.gm)
            if self.draw(st.booleans(), f"{label} reopen"):
                self.reopen()
        elif kind == "compact":  # files rewritten: no checkpoint before it is usable
            self.store.compact(self.classes[f.index])
        elif kind == "expire":  # the versions checkpoints read are gone
            self.store.expire(self.classes[f.index], older_than=dt.timedelta(0), force=True)
        elif kind in ("delete", "hard_delete"):
            chosen = subset(self.data, self.model.live[f.key], f"{label} ids", 1)
            self.delete(f, chosen, label, soft=kind == "delete")
            if f.is_root and self.draw(st.sampled_from([True, True, False]), f"{label} world"):
                for ids in chosen:
                    self.model.world[f.key].pop(ids, None)
            check_stored(self.store, self.classes[f.index], f, self.model, label)
        else:
            self.override(f, label)
        note(label)
        return label

    def override(self, f: FeatureModel, label: str) -> None:
        """Rewrite live rows with overridden data versions (e.g. a content hash)."""
        live = self.model.live[f.key]
        chosen = subset(self.data, live, f"{label} ids", 1)
        if not chosen:
            return
        cls = self.classes[f.index]
        stored = rows_by_id(self.store.read(cls), self.gm.id_columns, label)
        overrides = [
            draw_override(self.data, f.field_keys, live[ids], label) or {} for ids in chosen
        ]
        frame = pl.DataFrame([stored[ids] for ids in chosen])
        frame = frame.drop(PBF, DVBF, UPSTREAM).with_columns(
            string_map([as_dict(stored[ids][PBF]) for ids in chosen]).alias(PBF),
            string_map(overrides).alias(DVBF),
            string_map([as_dict(stored[ids][UPSTREAM]) for ids in chosen]).alias(UPSTREAM),
        )
        self.store.write(cls, frame)
        for ids, override in zip(chosen, overrides, strict=True):
            old = live[ids]
            self.model.store_row(f, ids, old, override, old.user)
        check_stored(self.store, cls, f, self.model, label)


def increment_rows(inc: mxl.Increment, id_columns: tuple[str, ...]) -> dict[str, list[str]]:
    """An increment as sorted text rows: ids, provenance, maps, changed fields; orphans' ids."""
    out = {}
    for kind in ("new", "stale"):
        frame = getattr(inc, kind).collect().to_polars()
        columns = [*id_columns, PROV, PBF, DVBF, DV, UPSTREAM]
        columns += [CHANGED] if kind == "stale" else []
        out[kind] = sorted(str([row[c] for c in columns]) for row in frame.iter_rows(named=True))
    orphaned = inc.orphaned.collect().to_polars()
    out["orphaned"] = sorted(
        str([row[c] for c in id_columns]) for row in orphaned.iter_rows(named=True)
    )
    return out


def same_increment(a: mxl.Increment, b: mxl.Increment, gm: GraphModel, where: str) -> None:
    """The checkpoint path's increment equals the full scan's, row for row."""
    assert a.counts() == b.counts(), f"{where}: {a.path} {a.counts()} != {b.path} {b.counts()}"
    assert increment_rows(a, gm.id_columns) == increment_rows(b, gm.id_columns), (
        f"{where}: the {a.path} path's rows differ from the {b.path} path's"
    )


def run_scenario(gm: GraphModel, data: st.DataObject, max_steps: int, fmt: str) -> None:
    note(f"graph: {gm} on {fmt}")
    # every usable checkpoint is taken, however large the change (a tuning knob, not the
    # logic under test: the candidates are still computed and used)
    fraction = mock.patch.object(checkpointing, "CANDIDATE_FRACTION", math.inf)
    with fraction, tempfile.TemporaryDirectory() as tmp:
        pipe = Pipeline(tmp, gm, data, fmt)
        pool = gm.id_pool()
        for f in pipe.roots():
            everything = data.draw(st.booleans(), label=f"{f.key} all samples")
            initial = pool if everything else subset(data, pool, f"{f.key} samples", 1)
            for ids in initial:
                pipe.model.world[f.key][ids] = {
                    k: data.draw(values, label=f"{f.key} {ids} {k}") for k in f.field_keys
                }
        pipe.run_pass("initial")
        for n in range(data.draw(st.integers(1, max_steps), label="steps")):
            label = pipe.step(n)
            pipe.run_pass(label)


# Each example resolves every feature after every step (~0.15 s a resolve), once per format:
# half the profile's examples here and a third in the reference graph test keep the ci
# profile near a minute a format (15 + 10 examples; 150 + 100 under the slow profile).
@settings(max_examples=max(1, settings.default.max_examples // 2))
@given(gm=graph_models(), data=st.data())
def test_increment_matches_brute_force_model(gm: GraphModel, data: st.DataObject, fmt: str) -> None:
    run_scenario(gm, data, max_steps=3, fmt=fmt)


@settings(max_examples=max(1, settings.default.max_examples // 3))
@given(gm=reference_graphs(), data=st.data())
def test_reference_graph_matches_brute_force_model(
    gm: GraphModel, data: st.DataObject, fmt: str
) -> None:
    run_scenario(gm, data, max_steps=3, fmt=fmt)


# Up to 13 passes an example, once per format: a third of the profile's examples (10 under
# ci, 100 under the slow profile).
@pytest.mark.slow
@settings(max_examples=max(1, settings.default.max_examples // 3))
@given(gm=graph_models(), data=st.data())
def test_increment_matches_brute_force_model_long_runs(
    gm: GraphModel, data: st.DataObject, fmt: str
) -> None:
    run_scenario(gm, data, max_steps=12, fmt=fmt)
