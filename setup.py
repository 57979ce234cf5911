"""Build step that pyproject.toml cannot declare: the recipes ship inside the package.

The repository's ``recipes/`` folder is the one source of the built-in recipes. Building the
package copies it to ``jepa_kit/recipes/`` in the build tree (never in the source tree), so a
wheel carries the recipes as package data while the repository keeps one copy. An editable
install reads ``recipes/`` in place (``jepa_kit.shipped_recipes``). Everything else about the
package is in ``pyproject.toml``.
"""

from __future__ import annotations

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

RECIPES = Path(__file__).resolve().parent / "recipes"


class BuildWithRecipes(build_py):
    """``build_py`` that also copies ``recipes/**/*.toml`` into ``jepa_kit/recipes/``."""

    def _recipe_files(self) -> list[tuple[Path, Path]]:
        target = Path(self.build_lib, "jepa_kit", "recipes")
        return [(src, target / src.relative_to(RECIPES))
                for src in sorted(RECIPES.rglob("*.toml"))]

    def run(self) -> None:
        super().run()
        if self.editable_mode:  # the editable package reads recipes/ where it is
            return
        files = self._recipe_files()
        if not files:
            raise RuntimeError(f"no recipes to ship: {RECIPES} holds no *.toml files")
        for src, dest in files:
            self.mkpath(str(dest.parent))
            self.copy_file(str(src), str(dest))

    def get_outputs(self, include_bytecode: bool = True) -> list[str]:
        extra = [] if self.editable_mode else [str(dest) for _, dest in self._recipe_files()]
        return [*super().get_outputs(include_bytecode), *extra]


setup(cmdclass={"build_py": BuildWithRecipes})
