"""The PostgreSQL backend (issue 9): several hivemail nodes on one database."""
