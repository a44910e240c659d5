"""Airflow (2.4+): one DAG per partition, its one task `meltano run exportjobs-<partition>`.

Not run by the tests: tests/test_scale_docs.py checks that it parses and that every partition
it runs has its job in meltano.yml. Each worker has the project at MELTANO_PROJECT_ROOT (after
`meltano install`) and, in its environment, MELTANO_DATABASE_URI: Meltano's system database on
PostgreSQL (postgresql+psycopg://..., with `meltano[postgres]`), which holds every partition's
state and the runs `meltano run` checks, so no two workers run one partition at once. Secrets
come in each partition's own variables, e.g. TAP_EXPORTJOBS_M3TER_M3TER_CLIENT_SECRET (README:
"Running at scale").
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta

from airflow import DAG
from airflow.operators.bash import BashOperator  # Airflow 3: airflow.providers.standard

PROJECT = os.environ.get("MELTANO_PROJECT_ROOT", "/opt/tap-exportjobs")
#: Partition -> its schedule; each runs the job `exportjobs-<partition>` of meltano.yml.
PARTITIONS = {
    "elasticpath": "@hourly",
    "m3ter": "@hourly",
    "talkdesk-calls": "@hourly",
    "talkdesk-user-status": "@hourly",
    "uniware-wh-del": "@hourly",
    "uniware-wh-blr": "@hourly",
}

for partition, schedule in PARTITIONS.items():
    with DAG(
        dag_id=f"exportjobs-{partition}",
        schedule=schedule,
        start_date=datetime(2025, 1, 1),
        catchup=False,  # the tap catches up by itself, from its state
        max_active_runs=1,  # a run that outlasts the interval delays the next, never overlaps it
        default_args={
            # A run killed hard stays "running" in Meltano's runs table until its heartbeat is
            # 5 minutes old; until then Meltano refuses to start the partition again.
            "retries": 1,
            "retry_delay": timedelta(minutes=6),
        },
    ) as dag:
        BashOperator(
            task_id="meltano_run",
            bash_command=f"meltano --environment=prod run exportjobs-{partition}",
            cwd=PROJECT,
            append_env=True,  # the worker's MELTANO_DATABASE_URI and secrets
        )
    globals()[dag.dag_id] = dag
