"""``python -m auth init`` in a copy of an existing app, then ``streamlit run app.py`` and a sign-in.

Why: every other test starts an app someone already wired for sign-in. This one starts from
an app that has never heard of it (a menu of two pages, a helper module, its own
``.gitignore``, committed to git), runs the command a newcomer runs, registers at a real
provider exactly the URIs it printed, and signs in, out, and out over the back channel. The
app's ``git status`` afterwards shows only the wrapper and ``.gitignore``: never ``.env`` or
the sessions.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import requests

from devprovider import LocalProvider, ProviderUser
from tests.packaging.outside_app import SESSION_COOKIE, ServedApp, outside_environment
from tests.support.app_process import free_port, streamlit_options
from tests.support.http_flow import callback_from_local, sign_out

CLIENT_ID = "sales-dashboard"
CLIENT_SECRET = "sales-dashboard-secret"

#: An existing app as people write them: the entry script builds the menu, pages import a helper.
EXISTING_APP = {
    "main.py": (
        "import streamlit as st\n\n"
        'st.set_page_config(page_title="Sales")\n'
        'pages = [st.Page("home.py", title="Home", default=True), st.Page("reports.py", title="Reports")]\n'
        "st.navigation(pages).run()\n"
    ),
    "home.py": "import streamlit as st\nfrom figures import total\n\nst.metric('Sales', total())\n",
    "reports.py": "import streamlit as st\nfrom figures import total\n\nst.write('Reports', total())\n",
    "figures.py": "import streamlit as st\n\n\n@st.cache_data\ndef total() -> int:\n    return 42\n",
    ".gitignore": "__pycache__/\n",
}


def git(folder: Path, *args: str) -> str:
    result = subprocess.run(
        ["git", "-c", "user.name=Newcomer", "-c", "user.email=newcomer@example.com", *args],
        cwd=folder,
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    return result.stdout


def existing_app(folder: Path) -> Path:
    folder.mkdir()
    for name, text in EXISTING_APP.items():
        (folder / name).write_text(text, encoding="utf-8")
    git(folder, "init", "--quiet")
    git(folder, "add", "--all")
    git(folder, "commit", "--quiet", "-m", "The app before sign-in")
    return folder


def test_init_in_an_existing_app_signs_in_with_the_uris_it_printed(tmp_path: Path) -> None:
    folder = existing_app(tmp_path / "sales")
    port = free_port()
    public_url = f"http://localhost:{port}"
    env = outside_environment({}, keep_coverage=True)
    alice = ProviderUser(sub="alice", claims={"email": "alice@example.com", "email_verified": True, "name": "Alice"})

    with LocalProvider(
        users=[alice],
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        redirect_uris=[f"{public_url}/auth/callback/local"],
        post_logout_redirect_uris=[f"{public_url}/"],
    ) as provider:
        init = subprocess.run(
            [sys.executable, "-m", "auth", "init", "--provider", "local", "--issuer", provider.issuer]
            + ["--client-id", CLIENT_ID, "--client-secret", CLIENT_SECRET, "--public-url", public_url],
            cwd=folder,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        printed = init.stdout
        assert init.returncode == 0, f"{printed}\n{init.stderr}"
        assert printed.startswith("Entry script: main.py ")
        assert f"  redirect URI: {public_url}/auth/callback/local\n" in printed
        assert f"  post-logout redirect URI: {public_url}/\n" in printed
        assert printed.endswith(f"Run it:\n  streamlit run app.py --server.port {port}\n")
        assert CLIENT_SECRET not in printed
        backchannel = re.search(r"back-channel logout URL \(where it offers one\): (\S+)\n", printed)
        assert backchannel is not None, printed
        provider.backchannel_logout_uri = backchannel.group(1)

        command = [sys.executable, "-m", "streamlit", "run", "app.py", *streamlit_options(port)]
        with ServedApp(command, cwd=folder, env=env, port=port) as app, requests.Session() as browser:
            callback = callback_from_local(browser, app.url, "alice", next_path="/reports")
            signed_in = browser.get(callback, allow_redirects=False, timeout=10)
            assert signed_in.status_code in (302, 303), f"{signed_in.status_code} {signed_in.text}\n{app.output()}"
            assert signed_in.headers["location"] == "/reports"
            assert browser.cookies.get(SESSION_COOKIE)

            # Log out: the provider sends the browser back only to a registered post-logout URI.
            logout = sign_out(browser, app.url)
            assert logout.status_code == 303, logout.text
            assert logout.headers["location"].startswith(provider.end_session_endpoint + "?")
            back = browser.get(logout.headers["location"], allow_redirects=False, timeout=10)
            assert back.status_code == 302, back.text
            assert back.headers["location"].startswith(f"{public_url}/?state=")

            # Signed in again, then signed out by the provider's admin: over the printed back channel.
            browser.get(callback_from_local(browser, app.url, "alice"), allow_redirects=False, timeout=10)
            provider.backchannel_deliveries.clear()  # the logout above was reported there too
            assert len(provider.end_provider_sessions("alice")) == 1
            assert [delivery["status"] for delivery in provider.backchannel_deliveries] == [200], app.output()
            assert "event=session_ended reason=backchannel provider=local sub=alice sessions=1" in app.output()
            assert "Traceback" not in app.output()

    status = git(folder, "status", "--porcelain", "--untracked-files=all")
    assert sorted(status.splitlines()) == [" M .gitignore", "?? app.py"]  # no .env, no .streamlit-auth/
    assert (folder / ".streamlit-auth" / "sessions.db").is_file()
