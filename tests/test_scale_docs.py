"""The scale-out docs name only what meltano.yml declares.

The README's "Running at scale" section and the Airflow and Dagster examples under examples/
are read, not run (neither scheduler is installed here): the examples must parse and stay
short, and every partition, job, schedule, environment and state id they or the section name
must exist in meltano.yml, the section's yaml excerpt included. The section's commands run
as written in tests/test_readme_commands.py, like every command of the README.
"""

from __future__ import annotations

import ast
import re
import shlex

import pytest
import yaml

from tests.tap_runner import ROOT

EXAMPLES = sorted((ROOT / "examples").glob("*.py"))
README = (ROOT / "README.md").read_text()
HEADING = "## Running at scale"
#: A state id as Meltano makes it: <environment>:<extractor>-to-<loader>.
STATE_ID = re.compile(r"\b([\w-]+):(tap-exportjobs[\w-]*?)-to-(target-[\w-]+)")
#: A partition's job, schedule or extractor name (placeholders like `<partition>` excluded).
NAME = re.compile(r"(?<![\w-])((?:tap-)?exportjobs-[a-z0-9][a-z0-9-]*)(?![\w-])")


@pytest.fixture(scope="module")
def project() -> dict:
    return yaml.safe_load((ROOT / "meltano.yml").read_text())


def by_name(items: list[dict] | None) -> dict[str, dict]:
    return {item["name"]: item for item in items or []}


def names(project: dict) -> dict[str, dict[str, dict]]:
    plugins = project["plugins"]
    return {
        "extractor": by_name(plugins.get("extractors")),
        "loader": by_name(plugins.get("loaders")),
        "job": by_name(project.get("jobs")),
        "schedule": by_name(project.get("schedules")),
        "environment": by_name(project.get("environments")),
    }


def section() -> str:
    assert HEADING in README, f"the README has no {HEADING!r} section"
    return README.split(HEADING, 1)[1].split("\n## ", 1)[0]


def partition_jobs(project: dict) -> set[str]:
    """The jobs that run a partition: `exportjobs-<partition>`, its extractor inherited."""
    extractors = names(project)["extractor"]
    return {
        job["name"]
        for job in project.get("jobs") or []
        if job["name"].startswith("exportjobs-")
        and all(extractors.get(task.split()[0], {}).get("inherit_from") for task in job["tasks"])
    }


def example_partitions(path) -> list[str]:
    """The keys of the example's module-level PARTITIONS dict."""
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(target, ast.Name) and target.id == "PARTITIONS" for target in node.targets
        ):
            return [ast.literal_eval(key) for key in node.value.keys]
    raise AssertionError(f"{path.name} has no PARTITIONS dict")


def subset_mismatches(shown, actual, where: str = "") -> list[str]:
    """Where the excerpt `shown` differs from `actual` (lists of named items match by name)."""
    if isinstance(shown, dict):
        if not isinstance(actual, dict):
            return [f"{where}: not a mapping in meltano.yml"]
        return [
            problem
            for key, value in shown.items()
            for problem in (
                subset_mismatches(value, actual[key], f"{where}.{key}")
                if key in actual
                else [f"{where}.{key}: missing from meltano.yml"]
            )
        ]
    named = isinstance(shown, list) and all(isinstance(i, dict) and "name" in i for i in shown)
    if named and shown:
        declared = by_name(actual if isinstance(actual, list) else [])
        return [
            problem
            for item in shown
            for problem in (
                subset_mismatches(item, declared[item["name"]], f"{where}[{item['name']}]")
                if item["name"] in declared
                else [f"{where}[{item['name']}]: missing from meltano.yml"]
            )
        ]
    return [] if shown == actual else [f"{where}: {shown!r} but meltano.yml has {actual!r}"]


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_each_scheduler_example_compiles_and_stays_under_60_lines(path):
    source = path.read_text()
    compile(source, str(path), "exec")
    assert len(source.splitlines()) < 60


def test_there_is_an_airflow_and_a_dagster_example():
    assert {p.name for p in EXAMPLES} >= {"airflow_dag.py", "dagster_job.py"}


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_each_example_runs_the_job_of_every_partition_meltano_yml_declares(project, path):
    declared = names(project)
    partitions = example_partitions(path)
    for partition in partitions:
        job = declared["job"].get(f"exportjobs-{partition}")
        assert job, f"{path.name}: meltano.yml has no job exportjobs-{partition}"
        assert any(t.split()[0] == f"tap-exportjobs-{partition}" for t in job["tasks"]), job
    assert {f"exportjobs-{p}" for p in partitions} == partition_jobs(project)
    assert "exportjobs-{partition}" in path.read_text()  # the command runs the job


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_each_example_runs_meltano_in_an_environment_meltano_yml_declares(project, path):
    environments = re.findall(r"--environment=([\w-]+)", path.read_text())
    assert environments
    assert set(environments) <= set(names(project)["environment"])


def test_the_scale_section_comes_right_after_pointing_it_at_real_accounts():
    headings = re.findall(r"^## .+$", README, flags=re.M)
    at = headings.index("## Pointing it at real accounts")
    assert headings[at + 1] == HEADING


def test_every_state_id_the_section_names_is_a_partition_job_of_meltano_yml(project):
    declared = names(project)
    state_ids = STATE_ID.findall(section())
    assert state_ids, "the section shows no state id"
    for environment, extractor, loader in state_ids:
        assert environment in declared["environment"]
        assert f"{extractor} {loader}" in {
            task for job in declared["job"].values() for task in job["tasks"]
        }, f"no job runs {extractor} into {loader}"


def test_every_partition_job_and_schedule_the_section_names_exists(project):
    declared = names(project)
    known = set(declared["extractor"]) | set(declared["job"]) | set(declared["schedule"])
    text = STATE_ID.sub("", section())
    named = set(NAME.findall(text))
    assert named >= partition_jobs(project)  # every partition's job is shown
    assert sorted(named - known) == []


def test_the_sections_meltano_commands_name_jobs_and_schedules_of_meltano_yml(project):
    declared = names(project)
    blocks = re.findall(r"```bash\n(.*?)```", section(), flags=re.S)
    lines = [line.split("  #")[0].strip() for block in blocks for line in block.splitlines()]
    commands = [w[1:] for w in map(shlex.split, lines) if w and w[0].endswith("meltano")]
    subcommands = {next(a for a in args if not a.startswith("-")) for args in commands}
    assert {"run", "schedule", "state"} <= subcommands
    for args in commands:
        words = [a for a in args if not a.startswith("-")]
        for arg in args:
            if arg.startswith("--environment="):
                assert arg.split("=", 1)[1] in declared["environment"]
        if words[0] == "run":
            for name in words[1:]:
                assert name in declared["job"] or name in declared["extractor"], name
        if words[0] == "schedule" and words[1:2] == ["run"]:
            assert words[2] in declared["schedule"], words


def test_the_sections_meltano_yml_excerpt_is_what_meltano_yml_declares(project):
    blocks = re.findall(r"```yaml\n(.*?)```", section(), flags=re.S)
    excerpts = [e for e in map(yaml.safe_load, blocks) if isinstance(e, dict)]
    # Excerpts of the project file, not snippets of a plugin's config.
    excerpts = [e for e in excerpts if set(e) & {"plugins", "environments", "jobs", "schedules"}]
    assert any("jobs" in e and "schedules" in e for e in excerpts)
    for excerpt in excerpts:
        assert subset_mismatches(excerpt, project) == []
