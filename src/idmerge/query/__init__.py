"""Reading data back out, on resolved ids: spec → validate → build SQL → run.

Every reader here builds SQL text for the store's dialect (DuckDB) and runs it through
:meth:`idmerge.storage.base.Store.query`, so the SQL is inspectable and the work is
done by the database, never row by row in Python.
"""
