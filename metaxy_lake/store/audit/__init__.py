"""Audits: lineage, explain, and where samples stand, from the samples asked about."""
