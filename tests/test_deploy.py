"""The deployment files in the repository: valid as far as this machine can check."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

from tests.conftest import ROOT

UNIT = ROOT / "deploy" / "policy-qa-bot.service"
DOCKERFILE = ROOT / "Dockerfile"
SCRIPTS = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]


def test_the_dockerfile_passes_hadolint():
    hadolint = Path(sys.executable).with_name("hadolint")
    assert hadolint.exists(), "hadolint comes with the dev extras: make test installs it"
    result = subprocess.run([hadolint, DOCKERFILE], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_container_and_the_unit_start_the_installed_command():
    command = re.search(r"exec (\S+) telegram", DOCKERFILE.read_text()).group(1)
    assert command in SCRIPTS
    start = re.search(r"^ExecStart=(\S+) telegram$", UNIT.read_text(), re.M).group(1)
    assert Path(start).name in SCRIPTS


def test_the_systemd_unit_verifies(tmp_path):
    analyze = shutil.which("systemd-analyze")
    assert analyze, "systemd-analyze (Debian package systemd) checks the unit file"
    # The unit names /opt/policy-qa-bot; here the project lives in this checkout.
    unit = tmp_path / UNIT.name
    unit.write_text(UNIT.read_text().replace("/opt/policy-qa-bot", str(ROOT)))
    result = subprocess.run(
        [analyze, "verify", str(unit)], capture_output=True, text=True, cwd=tmp_path
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "policy-qa-bot.service" not in result.stderr  # no warning about our unit
