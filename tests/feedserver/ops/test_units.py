"""The systemd units in feedserver/deploy: hardened, and clean for systemd-analyze."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

DEPLOY = Path(__file__).resolve().parents[3] / "feedserver" / "deploy"
UNITS = ["feedserver-web.service", "feedserver-worker.service"]
HARDENING = [
    "NoNewPrivileges=yes",
    "ProtectSystem=strict",
    "ProtectHome=yes",
    "PrivateTmp=yes",
    "RestrictSUIDSGID=yes",
    "CapabilityBoundingSet=",
    "EnvironmentFile=/etc/feedserver/feedserver.env",
]


@pytest.mark.parametrize("unit", UNITS)
def test_units_are_hardened_and_read_the_environment_file(unit):
    lines = (DEPLOY / unit).read_text().splitlines()
    for option in HARDENING:
        assert option in lines, f"{unit}: missing {option}"
    assert any(line.startswith("ExecStart=/opt/feedserver/bin/feedserver ") for line in lines)


def test_web_unit_serves_without_a_poller_and_reloads_with_sighup():
    text = (DEPLOY / "feedserver-web.service").read_text()
    assert "ExecStart=/opt/feedserver/bin/feedserver serve " in text
    assert "--no-poller" in text
    assert "ExecReload=/bin/kill -HUP $MAINPID" in text


def test_environment_file_names_only_known_settings():
    from feedserver.config import SETTINGS

    names = {
        line.split("=", 1)[0]
        for line in (DEPLOY / "feedserver.env").read_text().splitlines()
        if line and not line.startswith("#")
    }
    known = {f"FEEDSERVER_{name}" for name in SETTINGS} | {"FEEDSERVER_INSTANCE_PATH"}
    assert names <= known, names - known


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze here")
def test_systemd_analyze_verify_is_clean(tmp_path):
    # verify checks that ExecStart's program exists: point it at this install.
    program = str(Path(sys.executable).parent / "feedserver")
    for unit in UNITS:
        text = (DEPLOY / unit).read_text().replace("/opt/feedserver/bin/feedserver", program)
        (tmp_path / unit).write_text(text)
    done = subprocess.run(
        ["systemd-analyze", "verify", *(str(tmp_path / u) for u in UNITS)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip() == "", done.stderr  # parse problems are only warnings
