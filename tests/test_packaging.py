"""The package ships what it says: one version, a licence, type information, its data files."""

import importlib.metadata
import tomllib
from importlib.resources import files
from pathlib import Path

import wslab

ROOT = Path(__file__).resolve().parent.parent


def test_the_version_is_written_once():
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert f'"{version}"' not in (ROOT / "wslab" / "__init__.py").read_text()
    assert wslab.__version__ == importlib.metadata.version("wslab")


def test_license_and_build_requirements():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert project["project"]["license"] == "MIT" and project["project"]["license-files"] == ["LICENSE"]
    assert "setuptools>=77" in project["build-system"]["requires"]  # PEP 639 license strings
    assert (ROOT / "LICENSE").read_text().startswith("MIT License")


def test_typed_and_data_files_are_in_the_package():
    assert files("wslab").joinpath("py.typed").is_file()
    assert files("wslab").joinpath("static/chat.html").is_file()


def test_install_tools_never_aborts_make_test():
    script = (ROOT / "scripts" / "install-tools").read_text()
    assert "exit 1" not in script


def test_public_api_and_the_decode_module():
    """``wslab.decode`` is the module (never a function hiding it); calling it still decodes."""
    import types

    import wslab.decode

    assert isinstance(wslab.decode, types.ModuleType) and wslab.decode.CLOSE_CODES[1000] == "normal closure"
    (frame,) = wslab.decode(b"\x81\x02hi", "server")
    assert frame.text == "hi" and wslab.decode_bytes(b"\x81\x02hi", "server") == [frame]
    assert sorted(wslab.__all__) == ["Lab", "RawClient", "Record", "Trace", "accept_key", "allow_nested_asyncio",
                                     "build_frame", "check_accept", "close_payload", "decode", "decode_bytes", "load",
                                     "load_har", "load_pcap"]
    from wslab.tap import StateTracker  # the old homes still answer
    from wslab.trace import Trace, describe  # noqa: F401

    assert StateTracker().connected()[0].state == "CONNECTING"
