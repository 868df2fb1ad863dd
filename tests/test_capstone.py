"""check_capstone: the lab's trace grades a student's own client (issue #9 item 6)."""

from __future__ import annotations

import functools

import pytest
from capstone_client import my_client
from helpers import fails as check_fails

from wslab import exercises as ex


def fails(answer, *needles):
    return check_fails(ex.check_capstone, answer, *needles)


def test_a_right_client_passes(capsys):
    assert ex.check_capstone(my_client) is None
    assert capsys.readouterr().out.startswith("✓ your client speaks RFC 6455")


def test_an_unwritten_client_says_so():
    def stub(url, message):
        raise NotImplementedError
    fails(stub, "not written yet", "NotImplementedError")


@pytest.mark.parametrize(("mistake", "needles"), [
    ({"masked": False}, ["sending 'Hello Server'", "wslab cannot read your frame: client frame not masked",
                         "RFC 6455 §5.2, §5.3"]),
    ({"chars": True}, ["sending '你好，服务器'", "your length field says 6: characters, not the 18 bytes"]),
    ({"close": False}, ["your client sent no Close frame", "struct.pack('!H', 1000)"]),
    ({"wait_fin": False}, ["your client closed TCP before the server did", "RFC 6455 §7.1.1"]),
    ({"check_accept": False}, ["a server answered 101 with a wrong Sec-WebSocket-Accept, and your client carried on",
                               "base64(sha1(key + GUID))"]),
])
def test_usual_mistakes_fail_with_a_reason(mistake, needles):
    fails(functools.partial(my_client, **mistake), *needles)


def test_a_client_that_is_not_a_function():
    fails("my_client", "expected a function")
