"""Print what landed in the demo's DuckDB warehouse (run with target-duckdb's python)."""

import sys

import duckdb

connection = duckdb.connect(
    sys.argv[1] if len(sys.argv) > 1 else "output/warehouse.duckdb", read_only=True
)
tables = connection.execute(
    "select table_schema, table_name from information_schema.tables order by 1, 2"
).fetchall()
print("\nWhat landed in the warehouse:")
for schema, table in tables:
    count = connection.execute(f'select count(*) from "{schema}"."{table}"').fetchone()[0]
    print(f"  {schema}.{table}: {count} rows")
for schema, table in tables:
    if table.endswith("_jobs"):
        print(f"\n{schema}.{table} by status:")
        for status, count in connection.execute(
            f'select status, count(*) from "{schema}"."{table}" group by 1 order by 1'
        ).fetchall():
            print(f"  {status:<10} {count}")
