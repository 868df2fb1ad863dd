"""The command line: python -m wslab demo, serve and release."""

import subprocess
import sys
from pathlib import Path

from timeouts import scaled

import wslab


def test_demo_prints_the_lifecycle_and_saves_png_pcap_and_json(tmp_path):
    png, pcap, saved = tmp_path / "t.png", tmp_path / "t.pcap", tmp_path / "t.json"
    result = subprocess.run([sys.executable, "-m", "wslab", "demo", "--png", str(png), "--pcap", str(pcap),
                             "--json", str(saved)], capture_output=True, text=True, timeout=scaled(60))
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "client received: 'Hello Client'" in out
    for line in ("GET / HTTP/1.1", "101 Switching Protocols", "TEXT 'Hello Server'", "TEXT 'Hello Client'",
                 "CLOSE 1000 (normal closure)", "TCP FIN"):
        assert line in out, line
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert pcap.stat().st_size > 24 * 10
    trace = wslab.load(saved)
    assert trace.messages() == ["Hello Server", "Hello Client"]
    # The PNG marks the article's nine steps beside the rows.
    from wslab.__main__ import article_steps

    assert article_steps(trace) == ["", "step 1", "steps 2, 3", "step 4", "steps 5, 6", "step 7", "step 8",
                                    "step 9", "step 9"]


def test_unknown_handler_is_a_clear_error():
    result = subprocess.run([sys.executable, "-m", "wslab", "serve", "--handler", "nope", "--port", "0"],
                            capture_output=True, text=True, timeout=scaled(60))
    assert result.returncode != 0
    assert "unknown handler 'nope'; built-ins: hello, article-chat, room, echo, chat" in result.stderr


def test_release_writes_the_student_versions_and_never_over_the_teacher_s(tmp_path):
    teacher = Path(__file__).resolve().parent.parent / "solutions" / "00-start-here.ipynb"
    out = tmp_path / "notebooks"
    result = subprocess.run([sys.executable, "-m", "wslab", "release", str(teacher), "--out", str(out)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert f"{out / teacher.name}: 2 solution(s) replaced by `# YOUR CODE HERE`" in result.stdout
    assert "BEGIN SOLUTION" not in (out / teacher.name).read_text(encoding="utf-8")
    result = subprocess.run([sys.executable, "-m", "wslab", "release", str(out / teacher.name), "--out", str(out)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "is the teacher's notebook itself" in result.stderr
