"""Boundary B: everything that knows Exchange; no Flask, no database."""
