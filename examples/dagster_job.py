"""Dagster: one job per partition, its one op running `meltano run exportjobs-<partition>`.

Not run by the tests: tests/test_scale_docs.py checks that it parses and that every partition
it runs has its job in meltano.yml. Load it with `dagster dev -f examples/dagster_job.py`. The
worker's environment brings MELTANO_DATABASE_URI (Meltano's system database on PostgreSQL: the
shared state, and the runs `meltano run` checks before it starts one) and each partition's own
secret variables, e.g. TAP_EXPORTJOBS_M3TER_M3TER_CLIENT_SECRET. One run per partition at a
time: each job's runs carry their partition in a tag, and the instance's dagster.yaml queues a
run while another with that tag runs:

    concurrency:
      runs:
        tag_concurrency_limits:
        - key: exportjobs/partition
          value: {applyLimitPerUniqueValue: true}
          limit: 1
"""

from __future__ import annotations

import os
import subprocess

import dagster as dg

PROJECT = os.environ.get("MELTANO_PROJECT_ROOT", "/opt/tap-exportjobs")
#: Partition -> its cron schedule; each runs the job `exportjobs-<partition>` of meltano.yml.
PARTITIONS = {
    "elasticpath": "0 * * * *",
    "m3ter": "0 * * * *",
    "talkdesk-calls": "0 * * * *",
    "talkdesk-user-status": "0 * * * *",
    "uniware-wh-del": "0 * * * *",
    "uniware-wh-blr": "0 * * * *",
}


def partition_job(partition: str) -> dg.JobDefinition:
    meltano_job = f"exportjobs-{partition}"
    name = meltano_job.replace("-", "_")  # Dagster names are letters, digits and underscores

    # A run killed hard blocks its partition in Meltano until its heartbeat is 5 minutes old.
    @dg.op(name=f"{name}_run", retry_policy=dg.RetryPolicy(max_retries=1, delay=360))
    def meltano_run() -> None:
        command = ["meltano", "--environment=prod", "run", meltano_job]
        subprocess.run(command, cwd=PROJECT, check=True)

    @dg.job(name=name, tags={"exportjobs/partition": partition})
    def job() -> None:
        meltano_run()

    return job


JOBS = {partition: partition_job(partition) for partition in PARTITIONS}
defs = dg.Definitions(
    jobs=list(JOBS.values()),
    schedules=[dg.ScheduleDefinition(job=JOBS[p], cron_schedule=c) for p, c in PARTITIONS.items()],
)
