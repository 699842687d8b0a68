"""Ship the top-level templates/ and migrations/ folders inside the package."""

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).parent
SHIPPED = ("templates", "migrations")


class BuildWithResources(build_py):
    """Copy templates/ and migrations/ into feedserver/ in the built package."""

    def run(self) -> None:
        super().run()
        for name in SHIPPED:
            for src in sorted((ROOT / name).rglob("*")):
                if src.is_file() and "__pycache__" not in src.parts:
                    dest = Path(self.build_lib) / "feedserver" / src.relative_to(ROOT)
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    self.copy_file(str(src), str(dest))


setup(cmdclass={"build_py": BuildWithResources})
