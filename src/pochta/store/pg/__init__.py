"""The PostgreSQL engine of the store (issue 16; docs/architecture.md "Store engines"): a psycopg 3
engine with a pool (``engine``), the schema built at the head on an empty database (``schema``,
``triggers``), and ``PgStore`` over the portable ``store/sql`` methods (``store``). It does not
keep mail yet (docs/scaling.md), so ``pochta.store.factory`` does not open it."""
