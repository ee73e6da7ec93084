"""Install a plugin package from its source directory the way ``importlib.metadata`` finds it, in milliseconds:
the package is copied under ``target`` next to a ``<name>-<version>.dist-info`` directory (METADATA and
entry_points.txt generated from its pyproject.toml). Put ``target`` on ``sys.path`` / ``PYTHONPATH`` and the
plugin's entry points are discovered like those of a pip-installed distribution (pip would take seconds to
build a wheel, and the test must not install into the shared virtualenv)."""

from __future__ import annotations

import shutil
import tomllib
from pathlib import Path

__all__ = ["install_plugin_dist"]


def install_plugin_dist(source: Path, target: Path) -> Path:
    """Install the plugin project at ``source`` (a pyproject.toml with ``[tool.setuptools] packages``) under
    ``target``; returns ``target``."""
    project_file = tomllib.loads((source / "pyproject.toml").read_text())
    project = project_file["project"]
    target.mkdir(parents=True, exist_ok=True)
    for package in project_file["tool"]["setuptools"]["packages"]:
        shutil.copytree(source / package, target / package, dirs_exist_ok=True)
    dist = target / f"{project['name'].replace('-', '_')}-{project['version']}.dist-info"
    dist.mkdir(exist_ok=True)
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {project['name']}\nVersion: {project['version']}\n")
    lines = []
    for group, points in project.get("entry-points", {}).items():
        lines.append(f"[{group}]")
        lines += [f"{name} = {value}" for name, value in points.items()]
        lines.append("")
    (dist / "entry_points.txt").write_text("\n".join(lines))
    return target
