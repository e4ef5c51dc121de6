"""The suite reaches loopback only: a test that tried the outside network would fail here, not
hang on a closed network or pass by luck on an open one."""

from __future__ import annotations

import socket

import pytest
from pytest_socket import SocketConnectBlockedError


# pytest-socket warns before it refuses; the warning is an error in this suite, which fails
# any test that tries the network. Here the refusal itself is what is checked.
@pytest.mark.filterwarnings("ignore:A test tried to use socket")
def test_outbound_connections_are_refused_before_they_leave() -> None:
    with pytest.raises(SocketConnectBlockedError), socket.create_connection(("192.0.2.1", 80), 1):
        pass  # TEST-NET-1: never routable, and never tried


def test_loopback_is_reachable() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        with socket.create_connection(server.getsockname(), 1):
            pass
