"""pochta: a complete mail server on one single-instance store."""

__version__ = "0.1.0"
