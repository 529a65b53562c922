"""Persistence behind a small repository API: SQLite by default, PostgreSQL by URL."""
