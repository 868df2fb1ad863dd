"""environment.yml (conda, Binder) and pyproject.toml name the same packages, and repo2docker reads it."""

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import yaml
from conftest import require_executable
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parent.parent


def pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def environment() -> dict:
    return yaml.safe_load((ROOT / "environment.yml").read_text())


def conda_requirement(spec: str) -> Requirement:
    # conda's "name>=1,<2" reads as a PEP 508 requirement; "python=3.11" is conda's exact-minor pin.
    return Requirement(spec.replace("=", "==", 1) if re.fullmatch(r"[\w.-]+=[\d.]+", spec) else spec)


def test_environment_yml_matches_pyproject():
    env = environment()
    assert env["channels"] == ["conda-forge"]
    conda = [d for d in env["dependencies"] if isinstance(d, str)]
    (pip_section,) = [d["pip"] for d in env["dependencies"] if isinstance(d, dict)]
    listed = {}
    for spec in conda + [p for p in pip_section if not p.startswith("-e")]:
        req = conda_requirement(spec)
        listed[req.name.lower()] = str(req.specifier)
    project = pyproject()["project"]
    wanted = {}
    for spec in project["dependencies"] + project["optional-dependencies"]["notebooks"]:
        req = Requirement(spec)
        wanted[req.name.lower()] = str(req.specifier)
    python = listed.pop("python")
    listed.pop("pip")
    assert listed == wanted, "environment.yml and pyproject.toml (dependencies + notebooks extra) differ"
    # The pinned Python is one the package accepts, and the package itself is installed from this folder.
    assert Requirement(f"x{project['requires-python']}").specifier.contains(python.lstrip("="))
    assert "-e ." in pip_section


def test_the_python_pin_is_the_one_ci_runs():
    pin = next(d for d in environment()["dependencies"] if isinstance(d, str) and d.startswith("python="))
    assert pin == f"python={sys.version_info.major}.{sys.version_info.minor}"


def test_repo2docker_builds_binder_from_environment_yml(tmp_path):
    """Binder's own builder, repo2docker, reads our files and plans the conda environment (no Docker needed)."""
    r2d = require_executable("repo2docker", shutil.which("repo2docker") or str(Path(sys.executable).parent / "repo2docker"))
    repo = tmp_path / "repo"
    shutil.copytree(ROOT, repo, ignore=shutil.ignore_patterns(".git", ".venv", "*.ipynb", "__pycache__", "node_modules",
                                                              ".pytest_cache", ".hypothesis", "student"))
    done = subprocess.run([r2d, "--no-build", "--debug", "--no-run", str(repo)], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    out = done.stdout + done.stderr
    assert "Building conda environment for python=3.11" in out
    dockerfile = done.stdout
    copy = dockerfile.index("COPY --chown=0:0 src/ ${REPO_DIR}/")
    update = dockerfile.index('env update -p ${NB_PYTHON_PREFIX} --file "environment.yml"')
    assert copy < update, "the repository must be copied in before the pip section's `-e .` runs"
