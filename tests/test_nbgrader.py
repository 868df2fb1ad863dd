"""nbgrader for real: the teacher versions (solutions/) through nbgrader 0.9's own command line.

A course directory in tmp, with default settings (an nbgrader_config.py that
names the course and nothing else), the README's "For teachers" recipe:

- ``ps1``: all the notebooks. Student ``solved`` hands in the release with
  every stub replaced by the teacher's solution; ``untouched`` hands in the
  release as it came.
- ``ps2``: 01-handshake and 03-closing only (autograding is ~35 s per student
  for all of them). ``mistakes`` made two realistic mistakes; ``cheat`` wrote a
  wrong answer and redefined the check in their solution cell.

Scores are read from nbgrader's gradebook. Autograding needs nothing but
127.0.0.1: every check runs its own lab there.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from wslab.exercises import BEGIN, END

ROOT = Path(__file__).resolve().parent.parent
SOLUTIONS = ROOT / "solutions"
PS2 = ["01-handshake", "03-closing"]

CONFIG = """c = get_config()
c.CourseDirectory.course_id = "wslab101"
c.CourseDirectory.root = {root!r}
"""

# Two mistakes students make: the hex of the SHA-1 instead of the base64 of its bytes; little-endian close codes.
MISTAKES = {
    "01-handshake_ok": [('.digest()', '.hexdigest()'), ('base64.b64encode(digest).decode("ascii")', 'digest')],
    "03-read_close": [('struct.unpack("!H"', 'struct.unpack("<H"')],
}
# A wrong answer, and a "check" that prints the tick: the test cell imports the real check again.
CHEAT = '''def handshake_ok(key, status, headers):
    return True


check_handshake_ok = lambda fn: print("✓ handshake_ok accepts the 3 good responses")'''


def nbgrader(course: Path, *args: str, timeout: float = 600) -> tuple[str, float]:
    """Run ``python -m nbgrader ARGS`` in the course directory; its output and how long it took."""
    venv_bin = str(Path(sys.executable).parent)  # nbgrader runs `alembic` from PATH to create the gradebook
    env = {**os.environ, "PATH": venv_bin + os.pathsep + os.environ.get("PATH", ""),
           "JUPYTER_CONFIG_DIR": str(course.parent / "jupyter-config")}  # no one's own nbgrader config
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=course, env=env, capture_output=True,
                            text=True, timeout=timeout)
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"nbgrader {' '.join(args)} failed (exit {result.returncode}):\n{output}"
    return output, time.monotonic() - started


def solution(cell) -> str:
    """The teacher's solution cell with nbgrader's markers taken out: what a student who solved it wrote."""
    return "\n".join(line for line in cell.source.split("\n") if BEGIN not in line and END not in line)


def hand_in(course: Path, assignment: str, student: str, name: str, answers: dict[str, str]) -> None:
    """Hand in the released notebook ``name`` with the solution cells in ``answers`` (by grade_id) filled in."""
    nb = nbformat.read(course / "release" / assignment / f"{name}.ipynb", as_version=4)
    for cell in nb.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id in answers:
            cell.source = answers[grade_id]
    out = course / "submitted" / student / assignment / f"{name}.ipynb"
    out.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, out)
    if (course / "release" / assignment / "data").is_dir() and not (out.parent / "data").exists():
        shutil.copytree(course / "release" / assignment / "data", out.parent / "data")


def teacher_solutions(name: str) -> dict[str, str]:
    nb = nbformat.read(SOLUTIONS / f"{name}.ipynb", as_version=4)
    return {cell.metadata["nbgrader"]["grade_id"]: solution(cell) for cell in nb.cells
            if cell.metadata.get("nbgrader", {}).get("solution")}


def with_mistakes(answers: dict[str, str]) -> dict[str, str]:
    """The teacher's answers in one notebook, with the MISTAKES made in its exercises."""
    answers = dict(answers)
    for grade_id, replacements in MISTAKES.items():
        for old, new in replacements if grade_id in answers else ():
            assert old in answers[grade_id], f"solutions/ changed: update MISTAKES for {grade_id}"
            answers[grade_id] = answers[grade_id].replace(old, new)
    return answers


def scores(course: Path, assignment: str, student: str) -> tuple[float, float, dict[str, float]]:
    """(score, max score, {grade_id: score}) from the gradebook."""
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        submission = gradebook.find_submission(assignment, student)
        cells = {grade.name: grade.score for notebook in submission.notebooks for grade in notebook.grades}
        return submission.score, submission.max_score, cells


@pytest.fixture(scope="module")
def course(tmp_path_factory, missing_tool):
    """The course after generate_assignment and autograde of both assignments; prints how long each step took."""
    try:
        import nbgrader as _
    except ImportError as exc:
        missing_tool(f"nbgrader ({exc})", "pip install -e '.[test]'")
    course = tmp_path_factory.mktemp("nbgrader") / "course"
    (course.parent / "jupyter-config").mkdir()
    for assignment, names in (("ps1", [p.stem for p in sorted(SOLUTIONS.glob("[0-9][0-9]-*.ipynb"))]), ("ps2", PS2)):
        (course / "source" / assignment).mkdir(parents=True)
        for name in names:
            shutil.copy(SOLUTIONS / f"{name}.ipynb", course / "source" / assignment)
        if assignment == "ps1":  # 09's sample captures, which nbgrader releases with the notebooks
            shutil.copytree(SOLUTIONS / "data", course / "source" / assignment / "data")
    (course / "nbgrader_config.py").write_text(CONFIG.format(root=str(course)))
    took = {}
    for assignment in ("ps1", "ps2"):
        _, took[f"generate_assignment {assignment}"] = nbgrader(course, "generate_assignment", assignment)

    names = sorted(p.stem for p in (course / "release" / "ps1").glob("*.ipynb"))
    assert len(names) == 10
    for name in names:
        hand_in(course, "ps1", "solved", name, teacher_solutions(name))
        hand_in(course, "ps1", "untouched", name, {})
    for name in PS2:
        answers = teacher_solutions(name)
        hand_in(course, "ps2", "mistakes", name, with_mistakes(answers))
        hand_in(course, "ps2", "cheat", name,
                {**answers, "01-handshake_ok": CHEAT} if "01-handshake_ok" in answers else answers)

    for assignment in ("ps1", "ps2"):  # every student of the assignment in one run
        _, took[f"autograde {assignment}"] = nbgrader(course, "autograde", assignment)
    print("\n".join(f"nbgrader {step}: {seconds:.1f} s" for step, seconds in took.items()))
    return course


def test_generate_assignment_with_default_settings_releases_the_student_versions(course):
    # The release's sources are exactly the repository's student versions: python -m wslab release is nbgrader's.
    for path in sorted((course / "release" / "ps1").glob("*.ipynb")):
        released = nbformat.read(path, as_version=4)
        student = nbformat.read(ROOT / "notebooks" / path.name, as_version=4)
        assert [(c.id, c.source) for c in released.cells] == [(c.id, c.source) for c in student.cells], path.name
        assert "BEGIN SOLUTION" not in path.read_text(encoding="utf-8")
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        assignment = gradebook.find_assignment("ps1")
        assert assignment.num_submissions == 2
        assert assignment.max_score == 24
        assert sum(len(notebook.grade_cells) for notebook in assignment.notebooks) == 24
        assert sum(len(notebook.solution_cells) for notebook in assignment.notebooks) == 24


def test_a_solved_submission_gets_full_marks(course):
    score, max_score, cells = scores(course, "ps1", "solved")
    assert (score, max_score) == (24, 24), {name: s for name, s in cells.items() if s != 1}
    assert len(cells) == 24 and all(name.endswith("-check") for name in cells)


def test_an_untouched_release_gets_nothing(course):
    score, max_score, cells = scores(course, "ps1", "untouched")
    assert (score, max_score) == (0, 24), {name: s for name, s in cells.items() if s != 0}
    # ... and sees why in its autograded notebooks: the message that helps, under every check.
    autograded = nbformat.read(course / "autograded" / "untouched" / "ps1" / "04-chat.ipynb", as_version=4)
    errors = [o for c in autograded.cells if c.metadata.get("nbgrader", {}).get("grade")
              for o in c.outputs if o.output_type == "error"]
    assert len(errors) == 2 and all("not written yet" in e.evalue and "hint: " in e.evalue for e in errors)


def test_two_mistakes_cost_exactly_their_two_points(course):
    score, max_score, cells = scores(course, "ps2", "mistakes")
    assert max_score == 8  # 01: 3 exercises, 03: 5
    assert {name for name, s in cells.items() if s != 1} == {"01-handshake_ok-check", "03-read_close-check"}
    assert score == max_score - 2
    autograded = nbformat.read(course / "autograded" / "mistakes" / "ps2" / "01-handshake.ipynb", as_version=4)
    [error] = [o for c in autograded.cells if c.id == "01-handshake_ok-check" for o in c.outputs
               if o.output_type == "error"]
    assert "handshake_ok: for a correct 101" in error.evalue and "base64(SHA-1(key + GUID))" in error.evalue


def test_redefining_the_check_in_a_solution_cell_earns_nothing(course):
    score, max_score, cells = scores(course, "ps2", "cheat")
    assert {name for name, s in cells.items() if s != 1} == {"01-handshake_ok-check"}
    assert score == max_score - 1


def test_validate_fails_an_unsolved_notebook_and_passes_a_solved_one(course):
    # The repository's student version, as `make lab` opens it: it keeps nbgrader's metadata, so Validate works.
    unsolved = course.parent / "unsolved" / "01-handshake.ipynb"
    unsolved.parent.mkdir()
    shutil.copy(ROOT / "notebooks" / "01-handshake.ipynb", unsolved)
    output, _ = nbgrader(course, "validate", str(unsolved))
    assert re.search(r"VALIDATION FAILED ON 3 CELL\(S\)!", output), output
    assert "not written yet" in output
    output, _ = nbgrader(course, "validate", str(course / "submitted" / "solved" / "ps1" / "01-handshake.ipynb"))
    assert "Success! Your notebook passes all the tests." in output, output
