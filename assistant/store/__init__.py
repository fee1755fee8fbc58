"""The conversation's history in SQLite."""
