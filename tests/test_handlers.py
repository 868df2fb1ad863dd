"""The built-in handlers: the article's two servers, and wslab's broadcast room."""

import pytest

from wslab import Lab, handlers


def test_hello_answers_every_message_with_hello_client():
    with Lab("hello") as lab, lab.connect_sync() as ws:
        for message in ("Hello Server", "how are you?", b"\x00"):
            ws.send(message)
            assert ws.recv(timeout=5) == "Hello Client"


def test_article_chat_answers_the_sender_only_with_the_prefix():
    with Lab("article-chat") as lab, lab.connect_sync() as alice, lab.connect_sync() as bob:
        alice.send("Hello Server")
        assert alice.recv(timeout=5) == "服务器收到消息: Hello Server"
        alice.send("你好".encode())  # Node's '...' + Buffer: the reply is text
        assert alice.recv(timeout=5) == "服务器收到消息: 你好"
        with pytest.raises(TimeoutError):
            bob.recv(timeout=0.2)


def test_room_broadcasts_and_chat_is_its_old_name():
    assert handlers.BUILTIN["chat"] is handlers.room
    with Lab("room") as lab, lab.connect_sync() as alice, lab.connect_sync() as bob:
        alice.send("hi")
        assert alice.recv(timeout=5) == bob.recv(timeout=5) == "hi"


def test_unknown_names_list_the_builtins():
    with pytest.raises(ValueError, match="hello, article-chat, room"):
        handlers.resolve("nope")
