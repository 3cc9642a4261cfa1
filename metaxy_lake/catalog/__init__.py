"""The catalog: what a store keeps beside its feature tables.

The commit log (``commit_log``: metadata that travels with every commit, read from each
table's history), graph snapshots (``snapshots``: the ``_catalog/snapshots`` table) and
resolve checkpoints (``checkpoints``: files under ``_catalog/checkpoints``).
"""

from metaxy_lake.catalog.commit_log import Commit, CommitInfo, commits_from_history

__all__ = ["Commit", "CommitInfo", "commits_from_history"]
