"""SQLModel tables, engine and session set-up, queries and backups.

Every datetime column is SQLModel's ``UTCDateTime``: it takes aware
datetimes only, stores UTC (``timestamptz`` on PostgreSQL, text without an
offset on SQLite) and returns aware UTC. :func:`storage.db.to_db` and
:func:`storage.db.from_db` normalise at the edges.
"""
