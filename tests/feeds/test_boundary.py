"""The syndication core imports neither Flask nor SQLAlchemy nor the app."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import feeds

FORBIDDEN = ("flask", "sqlalchemy", "feedserver", "werkzeug", "alembic")
PACKAGE = Path(feeds.__file__).parent


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_no_module_of_feeds_imports_the_web_or_the_database():
    modules = sorted(PACKAGE.rglob("*.py"))
    assert len(modules) > 3
    offenders = {str(m.relative_to(PACKAGE)): sorted(_imports(m) & set(FORBIDDEN)) for m in modules}
    assert {k: v for k, v in offenders.items() if v} == {}


def test_importing_every_feeds_module_loads_neither_flask_nor_sqlalchemy():
    names = [
        "feeds." + ".".join(m.relative_to(PACKAGE).with_suffix("").parts)
        for m in PACKAGE.rglob("*.py")
        if m.name != "__init__.py"
    ]
    code = (
        "import importlib, sys\n"
        f"for n in {names!r}: importlib.import_module(n)\n"
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {FORBIDDEN!r}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_rule_is_written_at_the_top_of_the_package():
    assert "imports neither Flask nor SQLAlchemy" in (feeds.__doc__ or "")
