"""modelport's pytest plugin (entry point `pytest11`): every test runs offline by default."""

from __future__ import annotations

import socket
import time

import pytest

pytest_plugins = ["pytester"]


def test_a_test_cannot_reach_beyond_loopback_without_asking() -> None:
    """No fixture of this suite asks for it: the installed plugin closes the network."""
    start = time.monotonic()
    with pytest.raises(ConnectionRefusedError, match="no internet"):
        socket.getaddrinfo("api.openai.com", 443)
    with pytest.raises(ConnectionRefusedError), socket.socket() as sock:
        sock.connect(("203.0.113.9", 443))
    assert time.monotonic() - start < 1  # refused at once, no DNS wait or connect timeout


def test_loopback_stays_open() -> None:
    assert socket.getaddrinfo("127.0.0.1", 80)


def test_a_third_party_suite_is_offline_and_can_opt_in(pytester: pytest.Pytester) -> None:
    """A fresh project's tests (as a provider author's would be) get the plugin by installing
    modelport: offline by default, `@pytest.mark.allow_internet` lifts it for one test."""
    pytester.makepyfile(
        """
        import socket
        import pytest

        def test_blocked():
            with pytest.raises(ConnectionRefusedError):
                socket.getaddrinfo("example.com", 443)

        @pytest.mark.allow_internet
        def test_allowed():
            assert socket.getaddrinfo.__module__ == "socket"
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--strict-markers")
    result.assert_outcomes(passed=2)
    opted_out = pytester.runpytest_subprocess("-p", "no:modelport", "-k", "allowed")
    assert "allow_internet" in "\n".join(opted_out.outlines + opted_out.errlines)
