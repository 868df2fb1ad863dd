"""The browser's address of a lab (wslab/browser.py): every rule, and ``lab.http_url`` / ``local_http_url``."""

from __future__ import annotations

import os
import subprocess
import sys
import types

import pytest
from conftest import Process

from wslab import Lab, browser
from wslab.browser import NoBrowserURL, browser_url, from_template, local_url

HUB = {"JUPYTERHUB_SERVICE_PREFIX": "/user/alice/"}


@pytest.fixture
def no_colab(monkeypatch):
    monkeypatch.setattr(browser, "in_colab", lambda: False)


@pytest.fixture
def clean_env(monkeypatch, no_colab):
    """No rule's variable set in os.environ (a developer may run the tests inside a JupyterHub)."""
    for name in (browser.TEMPLATE_VARIABLE, browser.HUB_PREFIX_VARIABLE):
        monkeypatch.delenv(name, raising=False)


# -- rule 4: nothing set, the lab itself --------------------------------------
def test_no_variable_gives_the_lab_itself(no_colab):
    assert browser_url(8765, environ={}) == "http://127.0.0.1:8765/"
    assert browser_url(8765, "/chat", environ={}) == "http://127.0.0.1:8765/chat"
    assert local_url(8765) == "http://127.0.0.1:8765/"


def test_empty_variables_count_as_unset(no_colab):
    env = {"WSLAB_BROWSER_URL": "", "JUPYTERHUB_SERVICE_PREFIX": " "}
    assert browser_url(8765, environ=env) == "http://127.0.0.1:8765/"


# -- rule 2: JupyterHub / Binder ------------------------------------------------
def test_jupyterhub_prefix_gives_the_proxy_path_on_the_hubs_origin(no_colab):
    assert browser_url(8765, environ=HUB) == "/user/alice/proxy/8765/"
    assert browser_url(8765, "/chat", environ=HUB) == "/user/alice/proxy/8765/chat"


def test_binder_prefix_and_a_prefix_without_its_trailing_slash(no_colab):
    assert browser_url(41000, environ={"JUPYTERHUB_SERVICE_PREFIX": "/user/org-repo-abc123/"}) == \
        "/user/org-repo-abc123/proxy/41000/"
    assert browser_url(41000, environ={"JUPYTERHUB_SERVICE_PREFIX": "/user/bob"}) == "/user/bob/proxy/41000/"


# -- rule 1: the template -------------------------------------------------------
def test_template_with_port_only():
    env = {"WSLAB_BROWSER_URL": "https://myhub.example/user/x/proxy/{port}/"}
    assert browser_url(8765, environ=env) == "https://myhub.example/user/x/proxy/8765/"


def test_template_with_environment_keys_and_host():
    env = {**HUB, "WSLAB_BROWSER_URL": "{JUPYTERHUB_SERVICE_PREFIX}proxy/{port}/", "LAB_HOST": "lab.example.org"}
    assert browser_url(8765, environ=env) == "/user/alice/proxy/8765/"
    env["WSLAB_BROWSER_URL"] = "https://{LAB_HOST}/jupyter/proxy/{port}"  # no trailing slash: the path adds it
    assert browser_url(8765, environ=env) == "https://lab.example.org/jupyter/proxy/8765/"
    assert browser_url(8765, "/chat", environ=env) == "https://lab.example.org/jupyter/proxy/8765/chat"
    env["WSLAB_BROWSER_URL"] = "http://{host}:{port}/"
    assert browser_url(8765, environ=env) == "http://127.0.0.1:8765/"


def test_template_wins_over_the_hub_prefix_and_colab(monkeypatch):
    monkeypatch.setattr(browser, "in_colab", lambda: True)
    env = {**HUB, "WSLAB_BROWSER_URL": "https://elsewhere.example/p/{port}/"}
    assert browser_url(8765, environ=env) == "https://elsewhere.example/p/8765/"


def test_template_host_and_port_win_over_environment_variables_of_that_name():
    env = {"WSLAB_BROWSER_URL": "http://{host}:{port}/", "port": "1", "host": "evil.example"}
    assert browser_url(8765, environ=env) == "http://127.0.0.1:8765/"


@pytest.mark.parametrize("template, says", [
    ("{JUPYTERHUB_SERVICE_PREFIX}proxy/{port}/", "names {JUPYTERHUB_SERVICE_PREFIX}, which is neither"),
    ("https://hub.example/proxy/{prot}/", "names {prot}, which is neither"),
    ("https://hub.example/proxy/{port/", "is not a valid template"),
    ("https://hub.example/proxy/}{port}/", "is not a valid template"),
    ("https://hub.example/proxy/{}/", "is not a valid template"),
    ("https://hub.example/proxy/{0}/", "is not a valid template"),
    ("https://hub.example/proxy/{port.real.x}/", "is not a valid template"),
    ("{EMPTY}", "gives an empty URL"),
])
def test_bad_template_is_a_clear_error_naming_the_variable(template, says, no_colab):
    env = {"WSLAB_BROWSER_URL": template, "EMPTY": ""}
    with pytest.raises(ValueError) as error:
        browser_url(8765, environ=env)
    message = str(error.value)
    assert message.startswith(f"WSLAB_BROWSER_URL={template!r} ") and says in message, message


def test_from_template_reads_os_environ_by_default(monkeypatch):
    monkeypatch.setenv("WSLAB_TEST_BASE", "https://lab.example.org")
    assert from_template("{WSLAB_TEST_BASE}/proxy/{port}/", 8765) == "https://lab.example.org/proxy/8765/"


# -- rule 3: Google Colab ---------------------------------------------------------
def test_colab_has_no_browser_url_and_says_why(monkeypatch):
    monkeypatch.setattr(browser, "in_colab", lambda: True)
    with pytest.raises(NoBrowserURL, match="Colab's port proxy carries no WebSockets"):
        browser_url(8765, environ={})
    assert issubclass(NoBrowserURL, RuntimeError)


def test_in_colab_is_true_where_google_colab_is_importable(monkeypatch):
    assert browser.in_colab() is False  # not on this machine
    google = types.ModuleType("google")
    google.__path__ = []  # a package
    colab = types.ModuleType("google.colab")
    colab.__spec__ = types.SimpleNamespace(name="google.colab")  # what find_spec reads of a loaded module
    monkeypatch.setitem(sys.modules, "google", google)
    monkeypatch.setitem(sys.modules, "google.colab", colab)
    assert browser.in_colab() is True


# -- the lab's properties ------------------------------------------------------------
def test_lab_http_url_follows_the_rules_and_local_http_url_never_changes(monkeypatch, clean_env):
    with Lab("echo") as lab:
        local = f"http://127.0.0.1:{lab.port}/"
        assert lab.http_url == lab.local_http_url == local
        monkeypatch.setenv("JUPYTERHUB_SERVICE_PREFIX", "/user/alice/")
        assert lab.http_url == f"/user/alice/proxy/{lab.port}/"
        monkeypatch.setenv("WSLAB_BROWSER_URL", "https://myhub.example/user/x/proxy/{port}/")
        assert lab.http_url == f"https://myhub.example/user/x/proxy/{lab.port}/"
        monkeypatch.setenv("WSLAB_BROWSER_URL", "{NOT_SET_ANYWHERE}/proxy/{port}/")
        with pytest.raises(ValueError, match=r"^WSLAB_BROWSER_URL="):
            lab.http_url  # noqa: B018
        assert lab.local_http_url == local
        assert lab.url == f"ws://127.0.0.1:{lab.port}/"  # the lab's own clients: always direct


def test_lab_urls_need_a_started_lab():
    lab = Lab("echo")
    for name in ("url", "http_url", "local_http_url"):
        with pytest.raises(RuntimeError, match="the lab is not started"):
            getattr(lab, name)


def test_page_frame_shows_the_page_or_why_not(monkeypatch, clean_env):
    with Lab("echo") as lab:
        frame = lab.page_frame(height=300)
        html = frame._repr_html_()
        assert f'<iframe src="{lab.local_http_url}" width="100%" height="300"' in html
        assert f'<a href="{lab.local_http_url}" target="_blank">' in html
        assert repr(frame) == f"chat page: {lab.local_http_url}"
        monkeypatch.setenv("JUPYTERHUB_SERVICE_PREFIX", "/user/alice/")
        assert f'src="/user/alice/proxy/{lab.port}/"' in lab.page_frame()._repr_html_()
        monkeypatch.delenv("JUPYTERHUB_SERVICE_PREFIX")
        monkeypatch.setattr(browser, "in_colab", lambda: True)
        frame = lab.page_frame()  # no exception: a note instead of a dead frame
        assert "<iframe" not in frame._repr_html_() and "carries no WebSockets" in frame._repr_html_()
        assert "carries no WebSockets" in repr(frame)


# -- the command line ------------------------------------------------------------------
def serve_output(env: dict[str, str]) -> list[str]:
    """What ``python -m wslab serve --port 0`` prints up to its URLs, then Ctrl-C; all its lines."""
    with Process([sys.executable, "-m", "wslab", "serve", "--port", "0"], env=env) as server:
        server.wait_for_line(r"^chat page: ", timeout=15)
        if env:
            server.wait_for_line(r"^from a browser elsewhere: ", timeout=5)
        assert server.interrupt(timeout=15) == 0, server.output
        return server.lines


def test_serve_prints_only_the_direct_url_when_it_is_the_browsers(clean_env):
    lines = serve_output({})
    port = lines[0].rsplit(":", 1)[1].strip("/")
    assert lines[1] == f"chat page: http://127.0.0.1:{port}/   (Ctrl-C stops)"
    assert not [line for line in lines if "elsewhere" in line]


def test_serve_prints_both_urls_under_a_hub(clean_env):
    lines = serve_output({"JUPYTERHUB_SERVICE_PREFIX": "/user/alice/"})
    port = lines[0].rsplit(":", 1)[1].strip("/")
    assert lines[1] == f"chat page: http://127.0.0.1:{port}/   (Ctrl-C stops)"
    assert lines[2] == f"from a browser elsewhere: /user/alice/proxy/{port}/"


def test_serve_with_a_bad_template_exits_with_the_error(clean_env):
    result = subprocess.run([sys.executable, "-m", "wslab", "serve", "--port", "0"], capture_output=True,
                            text=True, timeout=30, env={**os.environ, "WSLAB_BROWSER_URL": "{nope}/{port}"})
    assert result.returncode == 2, result.stderr
    assert "WSLAB_BROWSER_URL='{nope}/{port}' names {nope}, which is neither" in result.stderr
