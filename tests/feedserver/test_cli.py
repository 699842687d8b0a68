"""The feedserver command: through Click's runner on both backends, and as a real process."""

from __future__ import annotations

import os
import subprocess
import sys
import types
from pathlib import Path

import click
import pytest
from sqlalchemy import select

from feedserver import accounts, cli, create_app
from feedserver.models import ApiToken, User

BIN = Path(sys.executable).parent
UNREACHABLE = "postgresql+psycopg://nobody@127.0.0.1:1/nothing"


def ok(result, code=0):
    assert result.exit_code == code, (result.output, result.exception)
    assert "Traceback" not in result.output
    return result


def create_user(runner, name="ada", password="correct horse"):
    return runner.invoke(args=["users", "create", name, "--password-stdin"], input=password + "\n")


# --- db, users --------------------------------------------------------------------------


def test_db_upgrade_is_idempotent(runner):
    result = ok(runner.invoke(args=["db", "upgrade"]))
    assert "is at revision" in result.output


def test_users_create_from_stdin(runner, db):
    result = ok(create_user(runner))
    assert "Created user 'ada'" in result.output
    with db.session() as s:
        assert accounts.authenticate(s, "ada", "correct horse") is not None


def test_users_create_prompts_twice(runner, db):
    # A mismatch asks again; the second pair matches.
    typed = "first try1\nsecond try\ncorrect horse\ncorrect horse\n"
    result = ok(runner.invoke(args=["users", "create", "bo"], input=typed))
    assert "do not match" in result.output
    assert "correct horse" not in result.output  # hidden input is not echoed
    with db.session() as s:
        assert accounts.authenticate(s, "bo", "correct horse") is not None


@pytest.mark.parametrize(
    "args, typed, code, message",
    [
        (["users", "create", "bo", "--password-stdin"], "short\n", 1, "at least 8"),
        (["users", "create", "bo", "--password-stdin"], "", 2, "no password"),
        (["users", "create", "bo", "--password-stdin"], "\n", 2, "no password"),
        (["users", "create", "bo"], "\n\n", 1, "at least 8"),
        (["users", "create", " ada", "--password-stdin"], "correct horse\n", 1, "spaces"),
        (["users", "create", "a\tb", "--password-stdin"], "correct horse\n", 1, "control"),
        (["users", "create"], "", 2, "Missing argument"),
        (["users", "set-password", "nobody", "--password-stdin"], "correct horse\n", 1, "No user"),
        (["tokens", "create", "nobody"], "", 1, "No user called 'nobody'"),
        (["tokens", "list", "nobody"], "", 1, "No user"),
        (["tokens", "revoke", "424242"], "", 1, "No API token with id 424242"),
        (["tokens", "revoke", "99999999999999999999"], "", 1, "No API token"),
        (["tokens", "revoke", "--", "-3"], "", 1, "No API token with id -3"),
        (["tokens", "revoke", "abc"], "", 2, "not a valid integer"),
        (["tokens", "create", "ada", "--label", "x" * 200], "", 1, "at most 150"),
    ],
)
def test_bad_input_is_a_clean_error(runner, db, args, typed, code, message):
    with db.session() as s:
        s.add(User(name="ada", password_hash="unused"))
    result = ok(runner.invoke(args=args, input=typed), code)
    assert message in result.output
    with db.session() as s:
        assert s.scalar(select(ApiToken)) is None
        assert [u.name for u in s.scalars(select(User))] == ["ada"]


def test_a_duplicate_user_is_refused_before_asking_for_a_password(runner):
    ok(create_user(runner))
    result = ok(runner.invoke(args=["users", "create", "ada"], input=""), 1)
    assert "already exists" in result.output and "Password" not in result.output


def test_users_list_and_set_password(runner, db):
    ok(create_user(runner, "ada"))
    ok(create_user(runner, "bo"))
    listing = ok(runner.invoke(args=["users", "list"])).stdout
    assert [line.split("\t")[0] for line in listing.splitlines()] == ["ada", "bo"]
    ok(
        runner.invoke(
            args=["users", "set-password", "ada", "--password-stdin"], input="new horse!\n"
        )
    )
    with db.session() as s:
        assert accounts.authenticate(s, "ada", "new horse!") is not None


# --- tokens -------------------------------------------------------------------------------


def test_token_lifecycle_against_the_api(runner, client):
    ok(create_user(runner))
    result = ok(runner.invoke(args=["tokens", "create", "ada", "--label", "deploy bot"]))
    token = result.stdout.strip()
    assert token.startswith("fs_") and "\n" not in token  # only the token on stdout
    assert "not shown again" in result.stderr
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/sections", headers=headers).status_code == 200

    listing = ok(runner.invoke(args=["tokens", "list", "ada"])).stdout
    token_id, prefix, label, *rest = listing.strip().split("\t")
    assert prefix == token[:10] + "…" and label == "deploy bot" and rest[-1] == "active"
    assert token not in listing

    ok(runner.invoke(args=["tokens", "revoke", token_id]))
    response = client.get("/api/sections", headers=headers)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert "revoked" in ok(runner.invoke(args=["tokens", "list", "ada"])).stdout


# --- demo ---------------------------------------------------------------------------------


@pytest.mark.parametrize("loaded, message", [(True, "Loaded"), (False, "already has articles")])
def test_demo_calls_load_demo(runner, monkeypatch, loaded, message):
    calls = []
    fake = types.ModuleType("feedserver.demo")
    fake.load_demo = lambda session: calls.append(session) or loaded  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "feedserver.demo", fake)
    result = ok(runner.invoke(args=["demo"]))
    assert message in result.output and len(calls) == 1


def test_demo_without_the_demo_module(runner, monkeypatch):
    monkeypatch.setitem(sys.modules, "feedserver.demo", None)
    assert "no demo content" in ok(runner.invoke(args=["demo"]), 1).output


# --- database problems --------------------------------------------------------------------


def _app(tmp_path, monkeypatch, url):
    monkeypatch.setenv("FEEDSERVER_INSTANCE_PATH", str(tmp_path / "instance"))
    return create_app(
        {"TESTING": True, "DATABASE_URL": url, "SECRET_KEY": "x", "RUN_POLLER": False}
    )


@pytest.mark.parametrize(
    "args",
    [["users", "list"], ["users", "create", "ada", "--password-stdin"], ["tokens", "create", "ada"],
     ["tokens", "revoke", "1"], ["db", "upgrade"], ["demo"]],
)  # fmt: skip
def test_an_unreachable_database_is_one_clean_line(tmp_path, monkeypatch, args):
    app = _app(tmp_path, monkeypatch, UNREACHABLE)
    result = ok(app.test_cli_runner().invoke(args=args, input="correct horse\n"), 1)
    assert (
        "Cannot use the database postgresql+psycopg://nobody@127.0.0.1:1/nothing" in result.output
    )


def test_a_database_without_tables_says_to_upgrade(tmp_path, monkeypatch):
    app = _app(tmp_path, monkeypatch, f"sqlite:///{tmp_path / 'empty.db'}")
    result = ok(app.test_cli_runner().invoke(args=["users", "list"]), 1)
    assert "run 'feedserver db upgrade'" in result.output


# --- the hook for other command modules -----------------------------------------------------


def test_listed_command_modules_are_added_and_missing_ones_skipped(monkeypatch):
    plugin = types.ModuleType("feedserver_test_commands")

    def register(group: click.Group) -> None:
        group.add_command(click.Command("poll", callback=lambda: None))

    plugin.register = register  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "feedserver_test_commands", plugin)
    monkeypatch.setattr(cli, "COMMAND_MODULES", ("feedserver_test_commands", "feedserver_absent_x"))
    group = click.Group("test")
    cli.add_commands(group)
    assert {"db", "demo", "users", "tokens", "poll"} <= set(group.commands)


def test_a_listed_module_with_a_broken_import_is_not_hidden(monkeypatch, tmp_path):
    (tmp_path / "feedserver_broken_cmds.py").write_text("import feedserver_no_such_dependency\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(cli, "COMMAND_MODULES", ("feedserver_broken_cmds",))
    with pytest.raises(ModuleNotFoundError, match="feedserver_no_such_dependency"):
        cli.add_commands(click.Group("test"))


# --- as a real process ----------------------------------------------------------------------


def run(tmp_path, *args, url=UNREACHABLE, stdin="", program="feedserver", env=None):
    executable = BIN / program
    if not executable.exists():
        pytest.skip(f"{executable} is not installed")
    base = {k: v for k, v in os.environ.items() if not k.startswith(("FEEDSERVER_", "FLASK_"))}
    env = {**base, **(env or {})}
    env.update(FEEDSERVER_INSTANCE_PATH=str(tmp_path / "instance"), FEEDSERVER_DATABASE_URL=url)
    return subprocess.run(  # noqa: S603 - our own console script
        [str(executable), *args], input=stdin, capture_output=True, text=True, env=env,
        cwd=tmp_path, timeout=60, check=False,
    )  # fmt: skip


def test_help_works_without_a_database(tmp_path):
    done = run(tmp_path, "--help")
    assert done.returncode == 0, done.stderr
    for command in ("db", "demo", "users", "tokens", "run"):
        assert f"  {command} " in done.stdout
    assert "Traceback" not in done.stderr
    sub = run(tmp_path, "tokens", "--help")
    assert sub.returncode == 0 and "revoke" in sub.stdout


def test_flask_app_feedserver_has_the_same_commands(tmp_path):
    done = run(tmp_path, "--app", "feedserver", "users", "--help", program="flask")
    assert done.returncode == 0, done.stderr
    assert "create" in done.stdout and "set-password" in done.stdout


def test_a_real_run_from_empty_database_to_working_token(tmp_path):
    url = f"sqlite:///{tmp_path / 'real.db'}"
    assert run(tmp_path, "db", "upgrade", url=url).returncode == 0
    created = run(
        tmp_path, "users", "create", "ada", "--password-stdin", url=url, stdin="pa55word!\n"
    )
    assert created.returncode == 0, created.stderr
    issued = run(tmp_path, "tokens", "create", "ada", url=url)
    assert issued.returncode == 0, issued.stderr
    assert issued.stdout.startswith("fs_") and len(issued.stdout.splitlines()) == 1
    duplicate = run(tmp_path, "users", "create", "ada", "--password-stdin", url=url, stdin="x\n")
    assert duplicate.returncode == 1
    assert duplicate.stderr.strip() == "Error: A user called 'ada' already exists."


def test_a_real_run_against_no_database_fails_cleanly(tmp_path):
    done = run(tmp_path, "users", "list")
    assert done.returncode == 1
    assert (
        done.stderr.startswith("Error: Cannot use the database") and "Traceback" not in done.stderr
    )
    bad_config = run(tmp_path, "users", "list", url="nonsense://")
    assert bad_config.returncode == 1 and "Traceback" not in bad_config.stderr
    # One line (README): not the command's usage and "Try --help", as for a typo.
    assert bad_config.stderr.startswith("Error: Cannot start feedserver")
    assert bad_config.stderr.count("\n") == 1, bad_config.stderr


@pytest.mark.parametrize(
    "args",
    [
        ("tokens", "create", "\udcff"),  # the shell passed the byte 0xff: no UTF-8
        ("tokens", "list", "a\udcffb"),
        ("users", "set-password", "\udcff", "--password-stdin"),
    ],
)
def test_an_argument_in_no_utf8_is_a_clean_error(tmp_path, args):
    url = f"sqlite:///{tmp_path / 'real.db'}"
    assert run(tmp_path, "db", "upgrade", url=url).returncode == 0
    done = run(tmp_path, *args, url=url, stdin="correct horse battery\n")
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "not valid UTF-8" in done.stderr


def test_an_instance_path_that_cannot_be_a_folder_is_a_clean_error(tmp_path):
    (tmp_path / "afile").write_text("")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FEEDSERVER_", "FLASK_"))}
    env["FEEDSERVER_INSTANCE_PATH"] = str(tmp_path / "afile" / "instance")
    done = subprocess.run(  # noqa: S603 - our own console script
        [str(BIN / "feedserver"), "sections", "list"], capture_output=True, text=True, env=env,
        cwd=tmp_path, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert "Not a directory" in done.stderr and "FEEDSERVER_INSTANCE_PATH" in done.stderr


def test_serve_refuses_what_every_worker_would_fail_on_before_it_starts(tmp_path):
    import socket

    url = f"sqlite:///{tmp_path / 'real.db'}"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        busy = run(tmp_path, "serve", "--port", str(port), url=url)
    assert busy.returncode == 1 and "Traceback" not in busy.stderr
    assert f"Cannot listen on 127.0.0.1:{port}" in busy.stderr and "serving" not in busy.stderr
    nowhere = run(tmp_path, "serve", "--host", "no-such-host.invalid", url=url)
    assert nowhere.returncode == 1 and "Cannot listen on 'no-such-host.invalid'" in nowhere.stderr
    bad = run(tmp_path, "serve", url="nonsense://")
    assert bad.returncode != 0 and "Traceback" not in bad.stderr
    assert "Cannot start feedserver" in bad.stderr and "serving" not in bad.stderr
    # serve reads FEEDSERVER_RUN_POLLER itself, then turns it off for its app:
    # a typo served without a poller (found by a regression audit).
    typo = run(tmp_path, "serve", url=url, env={"FEEDSERVER_RUN_POLLER": "ture"})
    assert typo.returncode == 1 and "serving" not in typo.stderr, typo.stderr
    assert typo.stderr.startswith("Error: Cannot start feedserver: config FEEDSERVER_RUN_POLLER")
    # A setting only the whole app checks (the metrics allow list), once, not per worker.
    env_bad = run(tmp_path, "serve", url=url, env={"FEEDSERVER_METRICS_ALLOW": "bogus"})
    assert env_bad.returncode != 0 and "Traceback" not in env_bad.stderr
    assert "FEEDSERVER_METRICS_ALLOW" in env_bad.stderr and "serving" not in env_bad.stderr


def test_worker_on_a_database_never_migrated_says_so_once(tmp_path):
    done = run(tmp_path, "worker", url=f"sqlite:///{tmp_path / 'empty.db'}")
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "run 'feedserver db upgrade'" in done.stderr and done.stderr.count("\n") <= 2
