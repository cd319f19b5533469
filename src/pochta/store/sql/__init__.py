"""The portable part of the store: SQLAlchemy Core over any engine the store runs on (the
directory, the queue's rows, Sieve scripts, DKIM keys, ...), as functions over a Connection and
the mixins that give a store class their async methods through its ``run_read``/``run_write``."""
