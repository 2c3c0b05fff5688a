"""Running the deployed stack: backfill, status (health) and redrive. Above encrypt/ and load/
(it reads their records and names), below the CLI."""
