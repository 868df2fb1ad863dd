"""Student versions of the notebooks: every exercise check fails there with a helpful message.

The master notebooks (solutions in place) pass under strict nbval; here each
notebook's student version is generated and executed in a fresh kernel, and
every cell whose solution was removed must end in an ExerciseError that says
the exercise is not written yet and what was expected -- while every other
cell still runs cleanly.
"""

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from wslab.exercises import BEGIN, make_student

NOTEBOOKS = sorted(Path(__file__).parent.parent.joinpath("notebooks").glob("[0-9][0-9]-*.ipynb"))
EXPECTED = ["00-start-here", "01-handshake", "02-messages", "03-closing", "04-chat", "05-websocket-vs-http",
            "06-asyncio-in-jupyter"]


def test_all_notebooks_are_there_with_two_to_four_exercises():
    assert [p.stem for p in NOTEBOOKS] == EXPECTED
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        solutions = sum(cell.source.count(BEGIN) for cell in nb.cells)
        assert 2 <= solutions <= 4, f"{path.name} has {solutions} exercises"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_student_version_fails_the_checks_helpfully(path, tmp_path):
    out = tmp_path / path.name
    removed = make_student(path, out)
    assert removed >= 2
    nb = nbformat.read(out, as_version=4)
    NotebookClient(nb, timeout=60, kernel_name="python3", allow_errors=True,
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    exercise_cells = [c for c in nb.cells if c.cell_type == "code" and "raise NotImplementedError" in c.source]
    assert len(exercise_cells) == removed
    for cell in exercise_cells:
        errors = [o for o in cell.outputs if o.output_type == "error"]
        assert errors, f"an exercise cell ran without failing:\n{cell.source}"
        assert errors[0].ename == "ExerciseError", f"{errors[0].ename}: {errors[0].evalue}"
        assert "not written yet" in errors[0].evalue and "expected" in errors[0].evalue, errors[0].evalue
    others = [c for c in nb.cells if c.cell_type == "code" and c not in exercise_cells
              and "raises-exception" not in c.metadata.get("tags", [])]
    broken = [(c.source, o.ename) for c in others for o in c.outputs if o.output_type == "error"]
    assert not broken, f"cells outside the exercises failed in the student version: {broken}"
