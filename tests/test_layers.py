"""The layers import one way: the import-linter contracts in pyproject.toml hold (``make check`` runs them too)."""

import shutil
import subprocess
import sys
from pathlib import Path

from conftest import missing

ROOT = Path(__file__).resolve().parent.parent


def test_import_contracts_hold():
    tool = shutil.which("lint-imports") or str(Path(sys.executable).parent / "lint-imports")
    if not Path(tool).exists():
        missing("lint-imports (import-linter)", "pip install -e '.[dev]' (make check installs it)")
    done = subprocess.run([tool], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout


def test_the_protocol_imports_nothing_else_from_wslab():
    """Checked here without the tool too: every import in wslab/protocol stays inside it."""
    for path in (ROOT / "wslab" / "protocol").glob("*.py"):
        for line in path.read_text().splitlines():
            if line.lstrip().startswith("from ..") or line.lstrip().startswith("import wslab"):
                raise AssertionError(f"{path.name} reaches outside the protocol: {line.strip()}")
