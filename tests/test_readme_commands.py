"""The README's Meltano commands work as written, with the Meltano this project installs.

Each command runs in a copy of the project (its own meltano.yml, system database and `.env`;
the plugins already installed by `.ci/run` are linked, never installed here), `...`
standing for a value. `meltano run` is checked with `--dry-run`: the end-to-end tests run it.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.tap_runner import ROOT

README = (ROOT / "README.md").read_text()
BIN = Path(os.environ.get("VIRTUAL_ENV", ROOT / ".venv")) / "bin"
MELTANO, TAP = BIN / "meltano", BIN / "tap-exportjobs"
#: Subcommands that only install, which `.ci/run` has done before the tests.
INSTALLS = {"install", "add"}
#: The SDK's own settings, which `--about` lists after the tap's.
SDK_SETTINGS = ("stream_maps", "stream_map_config", "faker_config", "flattening_", "batch_config")


def _code() -> list[str]:
    """Every line of every ```bash block and every inline code span, comments dropped."""
    blocks = re.findall(r"```bash\n(.*?)```", README, flags=re.S)
    lines = [line.split("  #")[0].strip() for block in blocks for line in block.splitlines()]
    prose = re.sub(r"```.*?```", "", README, flags=re.S)
    return lines + re.findall(r"`([^`\n]+)`", prose)


def _meltano_commands() -> list[list[str]]:
    commands = []
    for code in _code():
        words = shlex.split(code)
        # A command names at least a plugin; `meltano run` alone is prose.
        if words and words[0] in ("meltano", ".venv/bin/meltano") and len(words) > 2:
            commands.append(words[1:])
    return commands


def _subcommand(args: list[str]) -> str:
    return next(arg for arg in args if not arg.startswith("-"))


@pytest.fixture
def project(tmp_path):
    """A copy of the project for Meltano to change, with the installed plugins linked."""
    plugins = ROOT / ".meltano"
    if not (plugins / "extractors" / "tap-exportjobs-base" / "venv").exists():
        pytest.fail("the Meltano plugins are not installed: run `bash .ci/run` first")
    shutil.copy(ROOT / "meltano.yml", tmp_path / "meltano.yml")
    (tmp_path / ".meltano").mkdir()
    for kind in ("extractors", "loaders"):
        (tmp_path / ".meltano" / kind).symlink_to(plugins / kind)
    return tmp_path


def meltano(project: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("TAP_EXPORTJOBS_")}
    return subprocess.run(
        [str(MELTANO), *args],
        cwd=project,
        env={
            **clean,
            "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
            "MELTANO_AUTO_INSTALL": "false",
            "MELTANO_DATABASE_URI": f"sqlite:///{project / 'system.db'}",
            **(env or {}),
        },
        capture_output=True,
        text=True,
        timeout=120,
    )


COMMANDS = _meltano_commands()


def test_the_readme_shows_the_meltano_commands_a_newcomer_needs():
    shown = {(_subcommand(args), "--list" in args) for args in COMMANDS}
    assert {("run", False), ("select", False), ("select", True), ("config", False)} <= shown


@pytest.mark.parametrize("args", COMMANDS, ids=shlex.join)
def test_each_meltano_command_of_the_readme_works_as_written(project, args):
    subcommand = _subcommand(args)
    if subcommand in INSTALLS:
        pytest.skip("installs plugins, which .ci/run has done")
    args = ["readme-value" if arg == "..." else arg for arg in args]
    if subcommand == "run":
        at = args.index("run") + 1
        args = [*args[:at], "--dry-run", *args[at:]]
    result = meltano(project, *args)
    assert result.returncode == 0, result.stdout + result.stderr
    if subcommand == "select" and "--list" in args:
        # Not an empty list: the environment configures the providers whose streams it lists.
        assert re.search(r"\[selected\s*\] \w+_jobs\.", result.stdout), result.stdout


def test_the_readme_environment_variables_configure_the_settings_they_name(project):
    """The `export` lines of "Pointing it at real accounts" reach the tap's config."""
    exported = {}
    for code in _code():
        words = shlex.split(code)
        if words[:1] == ["export"]:
            exported.update(word.split("=", 1) for word in words[1:])
    assert {"TAP_EXPORTJOBS_ELASTICPATH_CLIENT_ID", "TAP_EXPORTJOBS_M3TER_ORG_ID"} <= set(exported)
    values = {name: f"readme-{name}" if v == "..." else v for name, v in exported.items()}
    result = meltano(project, "--environment=prod", "config", "--unsafe", "print",
                     "tap-exportjobs", env=values)  # fmt: skip
    assert result.returncode == 0, result.stderr
    config = json.loads(result.stdout)
    settings = yaml.safe_load((ROOT / "meltano.yml").read_text())["plugins"]["extractors"][0]
    by_variable = {
        "TAP_EXPORTJOBS_" + s["name"].replace(".", "_").upper(): s["name"]
        for s in settings["settings"]
    }
    for name, value in values.items():
        assert name in by_variable, f"{name} is no setting's variable"
        node = config
        for key in by_variable[name].split("."):
            node = node[key]
        assert node == value


def _table(markdown: str) -> list[str]:
    """The rows of the settings table (the one whose header starts `| Setting |`)."""
    table = markdown.split("| Setting |", 1)[1].split("\n\n", 1)[0]
    return [row for row in table.splitlines()[2:] if row.startswith("| ")]


def test_the_readme_settings_table_is_the_taps_about():
    about = subprocess.run(
        [str(TAP), "--about", "--format=markdown"], capture_output=True, text=True, check=True
    ).stdout
    taps_own = [row for row in _table(about) if not row[2:].startswith(SDK_SETTINGS)]
    assert _table(README) == taps_own


def test_every_setting_of_the_tap_is_declared_in_meltano_yml():
    about = subprocess.run(
        [str(TAP), "--about", "--format=json"], capture_output=True, text=True, check=True
    ).stdout
    properties = json.loads(about)["settings"]["properties"]

    def leaves(props: dict, prefix: str = "") -> list[str]:
        names = []
        for name, schema in props.items():
            nested = schema.get("properties")
            names += leaves(nested, f"{prefix}{name}.") if nested else [prefix + name]
        return names

    settings = yaml.safe_load((ROOT / "meltano.yml").read_text())["plugins"]["extractors"][0]
    declared = {s["name"] for s in settings["settings"]}
    taps_own = [name for name in leaves(properties) if not name.startswith(SDK_SETTINGS)]
    assert [name for name in taps_own if name not in declared] == []
