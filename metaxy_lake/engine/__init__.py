"""The DuckDB engine: relations over lake tables, the hash recipe, increments, stamping."""
