"""A store's tables: what one store is, its contract, the chain, reading, commits.

What one store is (``context``), the contract a table keeps (``contract``), the fallback
chain that overlays several stores (``chain``), reading, and the one commit path.
"""
