"""The renderers of ``mxl graph render`` and ``mxl graph diff``, on the demo graph.

Mermaid and dot output is parsed back (every feature a node, every dependency an edge, only
the changed features marked, versions shown); dot is also handed to Graphviz when it is
installed.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from dataclasses import replace
from typing import Any

import pytest
from rich.console import Console
from rich.tree import Tree

from metaxy_lake.cli import render
from metaxy_lake.cli.diagram import dot_string, mermaid_label, node_ids, short
from metaxy_lake.cli.render import (
    focus,
    graph_dot,
    graph_json,
    graph_mermaid,
    graph_tree,
    render_graph,
)
from metaxy_lake.cli.render_diff import diff_dot, diff_json, diff_mermaid, diff_tree, render_diff
from metaxy_lake.demo.scenario import build_features
from metaxy_lake.errors import ConfigError, UnknownFeatureError
from metaxy_lake.graph.diff import GraphDiff, diff
from metaxy_lake.graph.snapshot import DepSnapshot, FeatureSnapshot, FieldSnapshot, GraphSnapshot

VIDEO, CROP, FACES, STT = (
    "example/video",
    "example/crop",
    "example/faces",
    "example/speech_to_text",
)


@pytest.fixture(scope="module")
def old() -> GraphSnapshot:
    return GraphSnapshot.of(build_features().graph)


@pytest.fixture(scope="module")
def new() -> GraphSnapshot:
    return GraphSnapshot.of(build_features(crop_audio_version="2").graph)


@pytest.fixture(scope="module")
def bump(old: GraphSnapshot, new: GraphSnapshot) -> GraphDiff:
    return diff(old, new)


def dependencies(snapshot: GraphSnapshot) -> set[tuple[str, str]]:
    return {(d, k) for k, f in snapshot.features.items() for d in f.dependencies}


def text_of(tree: Tree) -> str:
    console = Console(record=True, width=120)
    console.print(tree)
    return console.export_text()


# --- parsers of the two diagram languages ------------------------------------------------

MERMAID_NODE = re.compile(r'^    (\w+)\["([^"]*)"\]$')
MERMAID_EDGE = re.compile(r"^    (\w+) (-->|==>|-\.->) (\w+)$")
MERMAID_CLASSDEF = re.compile(r"^    classDef (\w+) (\S+)$")
MERMAID_CLASS = re.compile(r"^    class ([\w,]+) (\w+)$")


def parse_mermaid(text: str) -> dict[str, Any]:
    """Nodes (id → label lines), edges (up id, arrow, down id), classes (status → ids)."""
    lines = text.splitlines()
    assert lines[0] == "flowchart TD"
    nodes: dict[str, list[str]] = {}
    edges: list[tuple[str, str, str]] = []
    classdefs: set[str] = set()
    classes: dict[str, set[str]] = {}
    for line in lines[1:]:
        if m := MERMAID_NODE.match(line):
            assert m[1] not in nodes, f"node {m[1]} twice"
            nodes[m[1]] = m[2].split("<br/>")
        elif m := MERMAID_EDGE.match(line):
            edges.append((m[1], m[2], m[3]))
        elif m := MERMAID_CLASSDEF.match(line):
            classdefs.add(m[1])
        elif m := MERMAID_CLASS.match(line):
            classes.setdefault(m[2], set()).update(m[1].split(","))
        else:
            raise AssertionError(f"not a mermaid statement: {line!r}")
    assert all(a in nodes and b in nodes for a, _, b in edges)
    assert set(classes) <= classdefs
    assert all(ids <= set(nodes) for ids in classes.values())
    return {"nodes": nodes, "edges": edges, "classes": classes}


QUOTED = r'"(?:[^"\\]|\\.)*"'
DOT_NODE = re.compile(rf"^    ({QUOTED}) \[(.*)\];$")
DOT_EDGE = re.compile(rf"^    ({QUOTED}) -> ({QUOTED})(?: \[(.*)\])?;$")
DOT_ATTR = re.compile(rf"(\w+)=({QUOTED})")


def unquote(token: str) -> str:
    return re.sub(r"\\(.)", lambda m: "\n" if m[1] == "n" else m[1], token[1:-1])


def attributes(text: str | None) -> dict[str, str]:
    if not text:
        return {}
    assert re.fullmatch(rf"\w+={QUOTED}(?:, \w+={QUOTED})*", text), text
    return {m[1]: unquote(m[2]) for m in DOT_ATTR.finditer(text)}


def parse_dot(text: str) -> dict[str, Any]:
    """Nodes (key → attributes) and edges (up, down, attributes) of the dot source."""
    lines = text.splitlines()
    assert re.fullmatch(rf"digraph {QUOTED} \{{", lines[0])
    assert lines[-1] == "}"
    nodes: dict[str, dict[str, str]] = {}
    edges: list[tuple[str, str, dict[str, str]]] = []
    for line in lines[1:-1]:
        if line.strip() in ("rankdir=TB;",) or line.strip().startswith("node ["):
            continue
        if m := DOT_EDGE.match(line):
            edges.append((unquote(m[1]), unquote(m[2]), attributes(m[3])))
        elif m := DOT_NODE.match(line):
            key = unquote(m[1])
            assert key not in nodes, f"node {key} twice"
            nodes[key] = attributes(m[2])
        else:
            raise AssertionError(f"not a dot statement: {line!r}")
    assert all(a in nodes and b in nodes for a, b, _ in edges)
    return {"nodes": nodes, "edges": edges}


def graphviz_accepts(source: str) -> None:
    dot = shutil.which("dot")
    if dot is None:
        pytest.skip("Graphviz is not installed (the structural checks ran)")
    done = subprocess.run(
        [dot, "-Tsvg"], input=source.encode(), capture_output=True, timeout=30, check=False
    )
    assert done.returncode == 0, done.stderr.decode()
    assert b"<svg" in done.stdout


# --- graph render ------------------------------------------------------------------------


def test_mermaid_has_every_feature_and_dependency(old: GraphSnapshot) -> None:
    parsed = parse_mermaid(graph_mermaid(old))
    ids = node_ids(old.features)
    assert set(parsed["nodes"]) == set(ids.values())
    for key, feature in old.features.items():
        assert parsed["nodes"][ids[key]] == [key, f"v {feature.version[:8]}"]
    edges = {(a, b) for a, arrow, b in parsed["edges"]}
    assert edges == {(ids[a], ids[b]) for a, b in dependencies(old)}
    assert len(parsed["edges"]) == len(edges) == 3
    assert all(arrow == "-->" for _, arrow, _ in parsed["edges"])
    assert parsed["classes"] == {}


def test_dot_has_every_feature_and_dependency(old: GraphSnapshot) -> None:
    parsed = parse_dot(graph_dot(old))
    assert set(parsed["nodes"]) == set(old.features)
    for key, feature in old.features.items():
        assert parsed["nodes"][key] == {"label": f"{key}\nv {feature.version[:8]}"}
    assert {(a, b) for a, b, _ in parsed["edges"]} == dependencies(old)
    assert len(parsed["edges"]) == 3


def test_graphviz_accepts_the_dot_output(
    old: GraphSnapshot, bump: GraphDiff, reshaped: GraphDiff
) -> None:
    for source in (graph_dot(old), diff_dot(bump), diff_dot(reshaped), graph_dot(odd_snapshot())):
        graphviz_accepts(source)


def test_json_lists_features_and_edges(old: GraphSnapshot) -> None:
    doc = graph_json(old)
    assert json.loads(json.dumps(doc)) == doc
    assert doc["snapshot"] == old.version
    assert [f["key"] for f in doc["features"]] == [VIDEO, CROP, FACES, STT]
    crop = doc["features"][1]
    assert crop["version"] == old.features[CROP].version
    assert {f["key"]: f["code_version"] for f in crop["fields"]} == old.features[CROP].code_versions
    assert crop["deps"][0]["feature"] == VIDEO
    assert {(e["from"], e["to"]) for e in doc["edges"]} == dependencies(old)


def test_tree_shows_features_fields_and_deps(old: GraphSnapshot) -> None:
    text = text_of(graph_tree(old))
    assert f"graph {old.version[:8]}  (4 features)" in text
    positions = [text.index(f"{k}  v {old.features[k].version[:8]}") for k in old.topological()]
    assert positions == sorted(positions)
    audio = old.features[CROP].fields[0]
    assert audio.key == "audio"
    assert f"audio  code {audio.code_version}  v {audio.version[:8]}  ← example/video.audio" in (
        text
    )
    assert "audio  code 1  v " in text  # Video's declared code version
    assert "example/video  (sample_uid, path)" in text
    assert old.features[CROP].version not in text  # versions are shown short


def test_render_graph_dispatches_on_the_format(old: GraphSnapshot) -> None:
    assert render_graph(old, "mermaid") == graph_mermaid(old)
    assert render_graph(old, "dot") == graph_dot(old)
    assert render_graph(old, "json") == graph_json(old)
    assert isinstance(render_graph(old, "tree"), Tree)
    with pytest.raises(ConfigError, match="svg"):
        render_graph(old, "svg")


# --- focus -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "up", "down", "expected"),
    [
        (CROP, None, None, [VIDEO, CROP, FACES, STT]),  # --feature alone: the whole lineage
        (CROP, 0, 0, [CROP]),
        (CROP, 1, 0, [VIDEO, CROP]),
        (CROP, 0, 1, [CROP, FACES, STT]),
        (FACES, None, None, [VIDEO, CROP, FACES]),  # a sibling is not in the lineage
        (FACES, 1, None, [CROP, FACES]),
        (FACES, 2, 5, [VIDEO, CROP, FACES]),
        (VIDEO, None, 1, [VIDEO, CROP]),
        (VIDEO, None, 2, [VIDEO, CROP, FACES, STT]),
        (STT, 1, 0, [CROP, STT]),
    ],
)
def test_focus_keeps_the_levels_asked_for(
    old: GraphSnapshot, key: str, up: int | None, down: int | None, expected: list[str]
) -> None:
    part = focus(old, key, up=up, down=down)
    assert part.topological() == expected
    assert part.version == old.version
    assert all(part.features[k] is old.features[k] for k in expected)


def test_a_focus_draws_only_edges_inside_it(old: GraphSnapshot) -> None:
    part = focus(old, CROP, up=0)
    parsed = parse_dot(graph_dot(part))
    assert set(parsed["nodes"]) == {CROP, FACES, STT}
    assert {(a, b) for a, b, _ in parsed["edges"]} == {(CROP, FACES), (CROP, STT)}
    mermaid = parse_mermaid(graph_mermaid(part))
    assert len(mermaid["nodes"]) == 3 and len(mermaid["edges"]) == 2
    assert graph_json(part)["edges"] == [{"from": CROP, "to": FACES}, {"from": CROP, "to": STT}]


def test_focus_on_an_unknown_feature_names_the_known_ones(old: GraphSnapshot) -> None:
    with pytest.raises(UnknownFeatureError) as raised:
        focus(old, "example/nope")
    message = str(raised.value)
    assert "example/nope" in message
    assert all(k in message for k in old.features)
    assert isinstance(raised.value, KeyError)


def test_focus_rejects_negative_levels(old: GraphSnapshot) -> None:
    with pytest.raises(ConfigError, match="--down"):
        focus(old, CROP, down=-1)


# --- diff render -------------------------------------------------------------------------


def test_diff_mermaid_marks_only_the_changed_features(
    old: GraphSnapshot, new: GraphSnapshot, bump: GraphDiff
) -> None:
    parsed = parse_mermaid(diff_mermaid(bump))
    ids = node_ids([VIDEO, CROP, FACES, STT])
    assert set(parsed["nodes"]) == set(ids.values())
    assert parsed["classes"] == {"changed": {ids[CROP]}, "downstream": {ids[STT]}}
    for key in (CROP, STT):
        line = f"v {old.features[key].version[:8]} → {new.features[key].version[:8]}"
        assert parsed["nodes"][ids[key]] == [key, line]
    for key in (VIDEO, FACES):
        assert parsed["nodes"][ids[key]] == [key, f"v {new.features[key].version[:8]}"]
    assert {(a, b) for a, _, b in parsed["edges"]} == {
        (ids[a], ids[b]) for a, b in dependencies(new)
    }


def test_diff_dot_marks_only_the_changed_features(
    old: GraphSnapshot, new: GraphSnapshot, bump: GraphDiff
) -> None:
    parsed = parse_dot(diff_dot(bump))
    assert set(parsed["nodes"]) == set(new.features)
    marked = {k: a["class"] for k, a in parsed["nodes"].items() if "class" in a}
    assert marked == {CROP: "changed", STT: "downstream"}
    assert parsed["nodes"][CROP]["fillcolor"] != parsed["nodes"][STT]["fillcolor"]
    assert "fillcolor" not in parsed["nodes"][FACES]
    versions = f"v {short(old.features[CROP].version)} → {short(new.features[CROP].version)}"
    assert parsed["nodes"][CROP]["label"] == f"{CROP}\n{versions}"
    assert {(a, b) for a, b, _ in parsed["edges"]} == dependencies(new)
    assert all(attrs == {} for _, _, attrs in parsed["edges"])


def test_diff_tree_lists_only_the_changes(
    old: GraphSnapshot, new: GraphSnapshot, bump: GraphDiff
) -> None:
    text = text_of(diff_tree(bump))
    assert f"graph diff {old.version[:8]} → {new.version[:8]}" in text
    assert "1 changed, 1 downstream" in text
    assert VIDEO not in text and FACES not in text
    a, b = old.features[CROP], new.features[CROP]
    assert f"changed    {CROP}  v {a.version[:8]} → {b.version[:8]}" in text
    audio_a, audio_b = a.fields[0], b.fields[0]
    assert f"audio  v {audio_a.version[:8]} → {audio_b.version[:8]}  code " in text
    assert f"{audio_a.code_version} → 2" in text
    assert "frames" not in text  # Crop's frames field did not change
    s_a, s_b = old.features[STT], new.features[STT]
    assert f"downstream {STT}  v {s_a.version[:8]} → {s_b.version[:8]}" in text
    transcript = f"transcript  v {s_a.fields[0].version[:8]} → {s_b.fields[0].version[:8]}"
    assert f"{transcript}  code {s_b.fields[0].code_version}\n" in text
    assert f"because of {CROP}" in text


def test_diff_json_is_the_diff_document(bump: GraphDiff) -> None:
    doc = diff_json(bump)
    assert doc == bump.to_json()
    assert [f["feature"] for f in doc["features"]] == [CROP, STT]
    assert render_diff(bump, "json") == doc
    assert render.render_diff is render_diff  # the commands use render.py alone
    assert render_diff(bump, "mermaid") == diff_mermaid(bump)
    assert isinstance(render_diff(bump, "tree"), Tree)
    with pytest.raises(ConfigError):
        render_diff(bump, "png")


def test_an_empty_diff(old: GraphSnapshot) -> None:
    same = diff(old, old)
    assert "no changes" in text_of(diff_tree(same))
    assert parse_mermaid(diff_mermaid(same))["classes"] == {}
    assert not any("class" in a for a in parse_dot(diff_dot(same))["nodes"].values())


@pytest.fixture(scope="module")
def reshaped(old: GraphSnapshot) -> GraphDiff:
    """Speech-to-text removed, a new feature on Crop added."""
    added = FeatureSnapshot(
        key="example/summary",
        version="abcdef0123456789",
        fields=(FieldSnapshot("summary", "1", "0011223344556677", ("example/crop.audio",)),),
        deps=(DepSnapshot(CROP, {"sample_uid": "sample_uid"}),),
    )
    features = {k: f for k, f in old.features.items() if k != STT} | {added.key: added}
    return diff(old, GraphSnapshot("ffff0000eeee1111", features))


def test_a_removed_and_an_added_feature_show_in_the_merged_graph(
    old: GraphSnapshot, reshaped: GraphDiff
) -> None:
    keys = [VIDEO, CROP, FACES, "example/summary", STT]
    ids = node_ids(keys)
    mermaid = parse_mermaid(diff_mermaid(reshaped))
    assert set(mermaid["nodes"]) == set(ids.values())
    assert mermaid["classes"] == {"added": {ids["example/summary"]}, "removed": {ids[STT]}}
    assert mermaid["nodes"][ids["example/summary"]] == ["example/summary", "v abcdef01 (added)"]
    assert mermaid["nodes"][ids[STT]] == [STT, f"v {old.features[STT].version[:8]} (removed)"]
    arrows = {(a, b): arrow for a, arrow, b in mermaid["edges"]}
    assert arrows[(ids[CROP], ids["example/summary"])] == "==>"
    assert arrows[(ids[CROP], ids[STT])] == "-.->"
    assert arrows[(ids[CROP], ids[FACES])] == "-->"

    dot = parse_dot(diff_dot(reshaped))
    assert set(dot["nodes"]) == set(keys)
    assert {k: a["class"] for k, a in dot["nodes"].items() if "class" in a} == {
        "example/summary": "added",
        STT: "removed",
    }
    assert "dashed" in dot["nodes"][STT]["style"]
    edge_classes = {(a, b): attrs.get("class") for a, b, attrs in dot["edges"]}
    assert edge_classes[(CROP, "example/summary")] == "added"
    assert edge_classes[(CROP, STT)] == "removed"
    assert edge_classes[(VIDEO, CROP)] is None

    text = text_of(diff_tree(reshaped))
    assert "added      example/summary  v abcdef01" in text
    assert "+ summary  v 00112233  code 1  (added)" in text
    assert f"removed    {STT}  v {old.features[STT].version[:8]}" in text
    assert "- transcript  v " in text and "(removed)" in text
    assert "1 added, 1 removed" in text


ODD = 'we"ird\\key'


def odd_snapshot() -> GraphSnapshot:
    """Two features whose keys need escaping (snapshots loaded from a catalog are unchecked)."""
    feature = FeatureSnapshot(ODD, "0123456789abcdef", (FieldSnapshot("x", "1", "ff"),))
    plain = replace(feature, key="we_ird_key", deps=(DepSnapshot(ODD),))
    return GraphSnapshot("v", {ODD: feature, plain.key: plain})


# --- escaping ----------------------------------------------------------------------------


def test_labels_and_ids_are_escaped() -> None:
    assert mermaid_label('say "hi" <b>#1</b>') == "say #quot;hi#quot; #lt;b#gt;#35;1#lt;/b#gt;"
    assert dot_string('a\\b"c') == '"a\\\\b\\"c"'
    odd = ODD
    snapshot = odd_snapshot()

    mermaid = parse_mermaid(graph_mermaid(snapshot))
    assert len(mermaid["nodes"]) == 2  # distinct ids although both keys reduce alike
    assert all(re.fullmatch(r"f_\w+", i) for i in mermaid["nodes"])
    labels = [lines[0] for lines in mermaid["nodes"].values()]
    assert "we#quot;ird\\key" in labels
    assert len(mermaid["edges"]) == 1

    dot_source = graph_dot(snapshot)
    assert '"we\\"ird\\\\key" [label="we\\"ird\\\\key\\nv 01234567"];' in dot_source
    dot = parse_dot(dot_source)
    assert set(dot["nodes"]) == {odd, "we_ird_key"}
    assert dot["nodes"][odd]["label"] == f"{odd}\nv 01234567"
    assert [(a, b) for a, b, _ in dot["edges"]] == [(odd, "we_ird_key")]
