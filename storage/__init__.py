"""SQLModel tables, engine and session set-up, queries and backups.

Times are stored as naive UTC in every table, on SQLite and PostgreSQL alike;
:func:`storage.db.to_db` and :func:`storage.db.from_db` convert at the edges.
"""
