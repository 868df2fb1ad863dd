"""Run every benchmark in bench/ and print its figures (no assertions: see each script)."""

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

for script in sorted(HERE.glob("*.py")):
    if script.name == "run.py":
        continue
    print(f"\n== {script.stem} ==", flush=True)
    subprocess.run([sys.executable, str(script)], check=False)
