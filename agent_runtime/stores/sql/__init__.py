"""What the SQLite and PostgreSQL stores share: the checkpoint tables and statements, the step
outbox their savers commit with each checkpoint, and the run listing query."""
