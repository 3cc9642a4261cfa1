"""Importing metaxy_lake loads no optional heavy library until it is used."""

from __future__ import annotations

import subprocess
import sys
import textwrap

OPTIONAL = ("pyiceberg", "lance", "ray", "s3fs", "pandas", "polars_hash")


def loaded_after(code: str) -> set[str]:
    script = textwrap.dedent(code) + textwrap.dedent(f"""
        import sys
        print(",".join(m for m in {OPTIONAL!r} if m in sys.modules))
    """)
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    ).stdout.strip()
    return set(filter(None, out.split(",")))


# pyarrow itself imports pandas, when installed, the first time it converts Python objects
# (e.g. ``pa.array([1])``): there pandas says nothing about metaxy_lake, so it is not judged.
BY_PYARROW = loaded_after("import pyarrow as pa; pa.array([1])")


def test_import_loads_no_optional_library() -> None:
    assert loaded_after("import metaxy_lake") == set()


def test_a_local_delta_store_loads_no_optional_library(tmp_path) -> None:
    code = f"""
        import metaxy_lake as mxl
        from metaxy_lake.demo import build_features
        from metaxy_lake.demo.scenario import videos
        f = build_features()
        store = mxl.LakeStore({str(tmp_path)!r})
        store.write(f.video, videos(3))
        store.resolve_update(f.crop).new.collect()
    """
    assert loaded_after(code) - BY_PYARROW == set()


def test_each_format_loads_only_its_own_library(tmp_path) -> None:
    iceberg = loaded_after(
        f"import metaxy_lake as mxl; mxl.LakeStore({str(tmp_path)!r}, format='iceberg')"
    )
    assert "pyiceberg" in iceberg and "lance" not in iceberg
    lance = loaded_after(
        f"import metaxy_lake as mxl; mxl.LakeStore({str(tmp_path)!r}, format='lance')"
    )
    assert "lance" in lance and "pyiceberg" not in lance
