"""Use cases over the database and Exchange. Nothing here imports Flask."""
