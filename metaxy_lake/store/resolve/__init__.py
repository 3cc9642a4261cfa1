"""Resolving an increment: the tables it reads, handed to the engine, and checkpoints."""
