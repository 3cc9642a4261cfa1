"""Writing to a store: frames handed in, appends and deletes, table maintenance."""
