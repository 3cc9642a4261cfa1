"""The commit log (and, later, graph snapshots): metadata that travels with every commit."""

from metaxy_lake.catalog.commit_log import Commit, CommitInfo, commits_from_history

__all__ = ["Commit", "CommitInfo", "commits_from_history"]
