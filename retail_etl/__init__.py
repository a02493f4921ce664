"""hist-retail nightly ETL: one business day from PostgreSQL into the lake, then silver tables."""

__version__ = "0.1.0"
