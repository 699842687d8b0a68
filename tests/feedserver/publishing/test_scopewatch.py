"""SQLite scope versions: the WAL-index check sees every commit, and skips the database otherwise."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from feedserver.models.scopes import GLOBAL
from feedserver.publishing.scopewatch import SQLiteVersions

KEYS = ["section:1", "author:2", "source:3", GLOBAL]


def make_db(path: Path, journal: str = "WAL") -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute(f"PRAGMA journal_mode={journal}")
    conn.execute("CREATE TABLE IF NOT EXISTS scope_versions (key TEXT PRIMARY KEY, version INT)")
    return conn


def truth(conn: sqlite3.Connection, key: str) -> tuple[int, int]:
    rows = dict(conn.execute("SELECT key, version FROM scope_versions").fetchall())
    return rows.get(key, 0), rows.get(GLOBAL, 0)


def bump(conn: sqlite3.Connection, key: str) -> None:
    conn.execute(
        "INSERT INTO scope_versions VALUES (?, 1) "
        "ON CONFLICT(key) DO UPDATE SET version = version + 1",
        (key,),
    )


operations = st.lists(
    st.one_of(
        st.tuples(st.just("read"), st.sampled_from(KEYS)),
        st.tuples(st.just("bump"), st.sampled_from(KEYS)),
        st.tuples(st.just("checkpoint"), st.sampled_from(["PASSIVE", "RESTART", "TRUNCATE"])),
    ),
    max_size=60,
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(ops=operations)
def test_every_commit_is_seen_whatever_the_wal_does(tmp_path_factory, ops):
    path = tmp_path_factory.mktemp("wal") / "site.db"
    writer = make_db(path)
    versions = SQLiteVersions(str(path))
    try:
        for op, arg in ops:
            if op == "bump":
                bump(writer, arg)
            elif op == "checkpoint":
                writer.execute(f"PRAGMA wal_checkpoint({arg})").fetchall()
            # Every step reads: a stale copy would show at once.
            key = arg if op != "checkpoint" else KEYS[0]
            assert versions.current(key) == truth(writer, key), (op, arg)
    finally:
        versions.close()
        writer.close()


def test_a_commit_in_another_process_is_seen(tmp_path):
    path = tmp_path / "site.db"
    writer = make_db(path)
    bump(writer, "section:1")
    versions = SQLiteVersions(str(path))
    assert versions.current("section:1") == (1, 0)
    script = (
        "import sqlite3, sys\n"
        "c = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
        "c.execute(\"UPDATE scope_versions SET version = version + 1 WHERE key = 'section:1'\")\n"
    )
    for expected in (2, 3, 4):
        subprocess.run([sys.executable, "-c", script, str(path)], check=True)
        assert versions.current("section:1") == (expected, 0)
    versions.close()
    writer.close()


def test_unchanged_database_is_not_asked_again(tmp_path):
    path = tmp_path / "site.db"
    writer = make_db(path)
    bump(writer, "author:2")
    versions = SQLiteVersions(str(path))
    assert versions.current("author:2") == (1, 0)
    assert versions.current("author:2") == (1, 0)  # the -shm file is open from here on
    statements: list[str] = []
    versions._state().conn.set_trace_callback(statements.append)
    for _ in range(50):
        assert versions.current("author:2") == (1, 0)
    assert statements == []  # 50 answers, not one statement
    bump(writer, "author:2")
    assert versions.current("author:2") == (2, 0)
    assert statements, "a commit must send the next read to the database"
    versions.close()
    writer.close()


@pytest.mark.parametrize("journal", ["DELETE", "TRUNCATE"])
def test_other_journal_modes_ask_the_database_every_time(tmp_path, journal):
    path = tmp_path / "site.db"
    writer = make_db(path, journal)
    versions = SQLiteVersions(str(path))
    for expected in range(1, 6):
        bump(writer, "source:3")
        assert versions.current("source:3") == (expected, 0)
    assert not Path(str(path) + "-shm").exists()
    versions.close()
    writer.close()


def test_a_forked_child_maps_the_file_again_and_sees_commits(tmp_path):
    path = tmp_path / "site.db"
    writer = make_db(path)
    bump(writer, "section:1")
    versions = SQLiteVersions(str(path))
    assert versions.current("section:1") == (1, 0)
    assert versions.current("section:1") == (1, 0)  # mapped in the parent
    pid = os.fork()
    if pid == 0:  # the child: the parent's map is forgotten, not shared
        code = 0 if versions._shm is None else 3
        bump(sqlite3.connect(path, isolation_level=None), "section:1")
        code = code or (0 if versions.current("section:1") == (2, 0) else 4)
        code = code or (0 if versions.current("section:1") == (2, 0) else 5)
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert versions.current("section:1") == (2, 0)  # and the parent sees the child's commit
    versions.close()
    writer.close()
