"""``python -m auth.dev`` outside the repository: the app script and ``.env`` of the working directory.

Why: the launcher used to run the repository's own ``app.py`` and read the repository's
``.env``, which an installed package does not have. These run it from a directory holding
only someone else's two-file app, the way a user of the package would.
"""

from __future__ import annotations

import secrets
import socket
import sys
from pathlib import Path

import pytest
import requests

from auth import dev
from devprovider import LocalProvider, ProviderUser
from tests.packaging.outside_app import (
    SESSION_COOKIE,
    ServedApp,
    outside_environment,
    query,
    write_minimal_app,
)
from tests.support.app_process import free_port, streamlit_options


def test_without_an_app_script_it_says_how_to_pass_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)

    assert dev.main(["--server.port", "8502"]) == 2
    default_missing = capsys.readouterr().err
    assert dev.main(["other.py"]) == 2
    named_missing = capsys.readouterr().err

    assert f"app.py in the current directory ({tmp_path})" in default_missing
    assert "python -m auth.dev path/to/app.py" in default_missing
    assert "other.py does not exist" in named_missing


def test_help_names_the_app_script_argument(capsys: pytest.CaptureFixture[str]) -> None:
    assert dev.main(["--help"]) == 0
    assert "python -m auth.dev [APP_SCRIPT]" in capsys.readouterr().out


def test_app_script_comes_first_and_the_rest_goes_to_streamlit(tmp_path: Path) -> None:
    write_minimal_app(tmp_path / "sub")

    assert dev.split_app_script(["sub/app.py", "--server.port", "8502"], cwd=tmp_path) == (
        Path("sub/app.py"),
        ["--server.port", "8502"],
    )
    assert dev.split_app_script(["--server.port", "8502"], cwd=tmp_path / "sub") == (
        tmp_path / "sub" / "app.py",
        ["--server.port", "8502"],
    )


def test_the_port_given_to_streamlit_is_found_in_both_spellings() -> None:
    assert dev.app_port(["--server.headless", "true", "--server.port", "8502"]) == 8502
    assert dev.app_port(["--server.port=8503"]) == 8503
    assert dev.app_port(["--server.headless", "true"]) is None


def test_ports_already_listened_on_are_skipped() -> None:
    """The dev provider falls back to any free port; the app's default port to the next one up,
    as Streamlit itself would, so the redirect URI names the port Streamlit really gets."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]

        assert dev.free_port(port) != port
        assert port < dev.first_free_port(port) < port + 20


def test_a_port_left_in_time_wait_by_the_last_run_counts_as_free() -> None:
    """Restarting the demo at once: connections of the last provider on 9400 linger in
    TIME_WAIT, which the provider's own socket (SO_REUSEADDR) binds over. The launcher's probe
    used to count the port as taken and move the provider to a random one."""
    with socket.socket() as listener:
        # As servers do (Linux lets a port be bound over TIME_WAIT when both sockets say so).
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        client = socket.create_connection(("127.0.0.1", port))
        served, _ = listener.accept()
        served.close()  # the server's side closes first: TIME_WAIT on its port
        client.close()

    assert dev.free_port(port) == port
    assert dev.first_free_port(port) == port


def test_unconfigured_it_runs_app_py_of_the_working_directory_against_the_dev_provider(tmp_path: Path) -> None:
    """From a source checkout (this editable install) the provider is the repository's
    devprovider, even for an app elsewhere: its sign-in page, and RFC 9207 ``iss``."""
    write_minimal_app(tmp_path)
    port = free_port()
    command = [sys.executable, "-m", "auth.dev", *streamlit_options(port)]

    with (
        ServedApp(command, cwd=tmp_path, env=outside_environment({}, keep_coverage=True), port=port) as app,
        requests.Session() as browser,
    ):
        login = browser.get(f"{app.url}/auth/login", params={"provider": "dev"}, allow_redirects=False, timeout=10)
        assert login.status_code == 302, f"{login.status_code} {login.text}\n{app.output()}"
        authorize = login.headers["location"]
        assert authorize.startswith("http://127.0.0.1:")
        request = query(authorize)
        assert request["redirect_uri"] == f"http://localhost:{port}/auth/callback/dev"
        issuer = authorize.split("/protocol/", 1)[0]

        page = browser.get(authorize, timeout=10)
        assert page.status_code == 200 and "Choose an account" in page.text and "Development only" in page.text
        # The card of alice posts the request back with user=alice.
        approved = browser.post(
            authorize.split("?", 1)[0], data={**request, "user": "alice"}, allow_redirects=False, timeout=10
        )
        assert approved.status_code == 302, approved.text
        assert query(approved.headers["location"])["iss"] == issuer
        signed_in = browser.get(approved.headers["location"], allow_redirects=False, timeout=10)

        assert signed_in.status_code in (302, 303), f"{signed_in.status_code} {signed_in.text}\n{app.output()}"
        assert browser.cookies.get(SESSION_COOKIE)
        assert "DEVELOPMENT ONLY" in app.output()
        assert f"Its sessions page, {issuer}/" in app.output()

        # Ctrl+C: the launcher reports the interrupt and has stopped the provider by the time it exits.
        assert app.interrupt() == 130, app.output()
        with pytest.raises(requests.ConnectionError):
            requests.get(authorize, timeout=5)


def test_sigterm_to_the_launcher_alone_stops_the_app_and_the_provider(tmp_path: Path) -> None:
    """A process manager or a closed terminal signals the launcher only. It used to die at
    once and leave Streamlit and the provider running, holding their ports."""
    write_minimal_app(tmp_path)
    port = free_port()
    command = [sys.executable, "-m", "auth.dev", *streamlit_options(port)]

    with ServedApp(command, cwd=tmp_path, env=outside_environment({}, keep_coverage=True), port=port) as app:
        login = requests.get(f"{app.url}/auth/login", params={"provider": "dev"}, allow_redirects=False, timeout=10)
        issuer = login.headers["location"].split("/protocol/", 1)[0]

        app.terminate_launcher()

        with pytest.raises(requests.ConnectionError):
            requests.get(f"{issuer}/.well-known/openid-configuration", timeout=5)
        with pytest.raises(requests.ConnectionError):
            requests.get(f"http://127.0.0.1:{port}/_stcore/health", timeout=5)


def test_settings_in_dotenv_of_the_working_directory_run_the_app_against_that_provider(tmp_path: Path) -> None:
    write_minimal_app(tmp_path)
    port = free_port()
    user = ProviderUser(sub="bob", claims={"email": "bob@example.com", "email_verified": True})

    with LocalProvider(users=[user], client_id="dotenv-app", client_secret="dotenv-secret") as provider:
        (tmp_path / ".env").write_text(
            "AUTH_PROVIDERS=local\n"
            f"AUTH_LOCAL_ISSUER={provider.issuer}\n"
            "AUTH_LOCAL_CLIENT_ID=dotenv-app\n"
            "AUTH_LOCAL_CLIENT_SECRET=dotenv-secret\n"
            f"AUTH_COOKIE_SECRET={secrets.token_urlsafe(32)}\n"
            f"AUTH_PUBLIC_URL=http://localhost:{port}\n",
            encoding="utf-8",
        )
        command = [sys.executable, "-m", "auth.dev", "app.py", *streamlit_options(port)]
        with ServedApp(command, cwd=tmp_path, env=outside_environment({}, keep_coverage=True), port=port) as app:
            login = requests.get(
                f"{app.url}/auth/login", params={"provider": "local"}, allow_redirects=False, timeout=10
            )

            assert login.status_code == 302, f"{login.status_code} {login.text}\n{app.output()}"
            assert login.headers["location"].startswith(provider.issuer + "/")
            assert query(login.headers["location"])["client_id"] == "dotenv-app"
            assert "DEVELOPMENT ONLY" not in app.output()  # configured: no development provider
