"""The package installed from a wheel into a fresh virtualenv, used by an app that is not the demo.

Why: every other test imports ``auth`` from the source tree, with the demo, ``tests/`` and a
``.env`` beside it. A module left out of the wheel, a dependency missing from pyproject.toml,
or code that assumes the repository's layout only shows when the package stands alone, as it
does in someone else's app. One session fixture builds the wheel and the virtualenv once
(pip's cache makes the dependencies cheap after the first run) and removes them at the end.
"""

from __future__ import annotations

import email.parser
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from devprovider import LocalProvider, ProviderUser
from tests.packaging.outside_app import (
    SESSION_COOKIE,
    ServedApp,
    outside_environment,
    query,
    write_minimal_app,
)
from tests.support.app_process import free_port, streamlit_options

# Building and installing takes a while on a cold pip cache; -m "not packaging" skips it.
pytestmark = [pytest.mark.packaging, pytest.mark.timeout(600)]

ROOT = Path(__file__).resolve().parents[2]
CLIENT_ID = "outside-app"
CLIENT_SECRET = "outside-secret"

#: What the wheel is built from: the working tree (uncommitted edits included) without what
#: .gitignore keeps out of the repository. A copy, because setuptools' in-tree ``build/``
#: keeps the files of earlier builds (a renamed module, say) and would put them in the wheel.
_NOT_SOURCE = shutil.ignore_patterns(
    ".git",
    ".venv",
    "venv",
    "build",
    "dist",
    "*.egg-info",
    "__pycache__",
    ".*_cache",
    ".hypothesis",
    ".coverage",
    ".coverage.*",
    "htmlcov",
    "node_modules",
    ".env",
)


@dataclass(frozen=True)
class Installed:
    """The built wheel, the source it was built from, and the fresh virtualenv holding it."""

    wheel: Path
    source: Path
    venv: Path
    work: Path

    @property
    def python(self) -> Path:
        return self.venv / "bin" / "python"


def run(command: Sequence[str | Path], *, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Run outside the repository (no AUTH_*, no PYTHONPATH, no coverage); fail with the output."""
    result = subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        env=outside_environment({}, keep_coverage=False),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert result.returncode == 0, f"{command} exited with {result.returncode}:\n{result.stdout}\n{result.stderr}"
    return result


@pytest.fixture(scope="session")
def installed() -> Iterator[Installed]:
    """Wheel built by pip from a copy of the tree; ``python -m venv`` without pip (this
    virtualenv's pip installs into it with ``--python``, skipping ensurepip); the wheel and
    its dependencies installed without byte-compiling (only what is imported gets compiled)."""
    with tempfile.TemporaryDirectory(prefix="wheel-install-") as directory:
        work = Path(directory)
        source = work / "source"
        shutil.copytree(ROOT, source, ignore=_NOT_SOURCE, symlinks=True)
        dist = work / "dist"
        run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", dist, source], cwd=work)
        wheels = list(dist.glob("*.whl"))
        assert len(wheels) == 1, wheels
        venv = work / "venv"
        run([sys.executable, "-m", "venv", "--without-pip", venv], cwd=work)
        run(
            [
                sys.executable,
                "-m",
                "pip",
                "--python",
                venv / "bin" / "python",
                "install",
                "--quiet",
                "--no-compile",
                wheels[0],
            ],
            cwd=work,
        )
        yield Installed(wheel=wheels[0], source=source, venv=venv, work=work)


def test_the_wheel_holds_exactly_the_auth_package(installed: Installed) -> None:
    with zipfile.ZipFile(installed.wheel) as wheel:
        names = wheel.namelist()
        metadata_name = next(name for name in names if name.endswith(".dist-info/METADATA"))
        metadata = email.parser.Parser().parsestr(wheel.read(metadata_name).decode("utf-8"))
    packaged = {name for name in names if not name.split("/")[0].endswith(".dist-info")}
    package = installed.source / "auth"
    expected = {
        path.relative_to(installed.source).as_posix()
        for path in package.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }

    assert packaged == expected  # no tests/, demo/, app.py, scripts/, nothing stale
    assert metadata["Name"] == "streamlit-oidc-auth"
    requirements = " ".join(metadata.get_all("Requires-Dist") or [])
    assert "streamlit" in requirements and "authlib" in requirements
    assert "dev" in (metadata.get_all("Provides-Extra") or [])


def test_import_and_command_line_tools_work_from_the_installed_package(installed: Installed) -> None:
    elsewhere = installed.work / "elsewhere"
    elsewhere.mkdir(exist_ok=True)

    imported = run(
        [installed.python, "-c", "import auth; print(auth.__file__); print(auth.Auth.__name__)"], cwd=elsewhere
    )
    doctor = run([installed.python, "-m", "auth", "doctor", "--help"], cwd=elsewhere)
    bench = run([installed.python, "-m", "auth.bench", "--runs", "200", "--callbacks", "3"], cwd=elsewhere)
    # Start-up's message names .env.example; an installed package writes it from its own copy.
    example = run([installed.python, "-m", "auth", "init", "--example"], cwd=elsewhere)

    assert Path(imported.stdout.splitlines()[0]).is_relative_to(installed.venv)
    assert "--env-file" in doctor.stdout
    assert "per-rerun session check (200 runs each):" in bench.stdout
    assert re.search(r"sqlite \(WAL\) +median +[\d.]+ us", bench.stdout), bench.stdout
    assert "access_token() without a refresh" in bench.stdout
    assert "callback's own work:" in bench.stdout and "(3 runs" in bench.stdout
    assert example.stdout.startswith("wrote       .env.example")
    assert (elsewhere / ".env.example").read_text() == (installed.source / ".env.example").read_text()


def test_dev_launcher_says_how_to_fix_a_missing_app_script_or_dev_extra_then_runs_oidc_provider_mock(
    installed: Installed,
) -> None:
    """Outside a source checkout there is no devprovider (it is not in the wheel): the launcher
    needs the ``dev`` extra and, once it is there, runs oidc-provider-mock. One test, because
    it installs the extra into the session's virtualenv (later tests do not mind it)."""
    empty = installed.work / "empty"
    empty.mkdir(exist_ok=True)
    app_dir = installed.work / "launcher-app"
    write_minimal_app(app_dir)
    env = outside_environment({}, keep_coverage=False)

    no_script = subprocess.run(
        [str(installed.python), "-m", "auth.dev"],
        cwd=empty,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    no_extra = subprocess.run(
        [str(installed.python), "-m", "auth.dev"],
        cwd=app_dir,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert no_script.returncode == 2, no_script.stderr
    assert "app.py in the current directory" in no_script.stderr
    assert "python -m auth.dev path/to/app.py" in no_script.stderr
    assert "Traceback" not in no_script.stderr
    # The dev extra (oidc-provider-mock) is not installed here: an instruction, not a crash.
    assert no_extra.returncode == 2, no_extra.stderr
    assert "pip install 'streamlit-oidc-auth[dev]'" in no_extra.stderr
    assert "Traceback" not in no_extra.stderr

    # The dev extra, as the instruction says (the wheel's own extra, so its pinned version).
    run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            installed.python,
            "install",
            "--quiet",
            "--no-compile",
            f"{installed.wheel}[dev]",
        ],
        cwd=installed.work,
    )
    port = free_port()
    command = [str(installed.python), "-m", "auth.dev", *streamlit_options(port)]
    with ServedApp(command, cwd=app_dir, env=env, port=port) as app, requests.Session() as browser:
        login = browser.get(f"{app.url}/auth/login", params={"provider": "dev"}, allow_redirects=False, timeout=10)
        assert login.status_code == 302, f"{login.status_code} {login.text}\n{app.output()}"
        authorize = login.headers["location"]
        # oidc-provider-mock's authorize form: pick a demo user.
        approved = browser.post(authorize, data={"sub": "alice"}, allow_redirects=False, timeout=10)
        assert approved.status_code == 302, approved.text
        signed_in = browser.get(approved.headers["location"], allow_redirects=False, timeout=10)

        assert signed_in.status_code in (302, 303), f"{signed_in.status_code} {signed_in.text}\n{app.output()}"
        assert browser.cookies.get(SESSION_COOKIE)
        assert "It is oidc-provider-mock (the dev extra)" in app.output()


def test_someone_elses_app_signs_in_with_the_installed_package(installed: Installed) -> None:
    app_dir = installed.work / "their-app"
    write_minimal_app(app_dir)
    port = free_port()
    user = ProviderUser(sub="alice", claims={"email": "alice@example.com", "email_verified": True, "name": "Alice"})

    with LocalProvider(users=[user], client_id=CLIENT_ID, client_secret=CLIENT_SECRET) as provider:
        env = outside_environment(
            {
                "AUTH_PROVIDERS": "local",
                "AUTH_LOCAL_ISSUER": provider.issuer,
                "AUTH_LOCAL_CLIENT_ID": CLIENT_ID,
                "AUTH_LOCAL_CLIENT_SECRET": CLIENT_SECRET,
                "AUTH_COOKIE_SECRET": secrets.token_urlsafe(32),
                "AUTH_PUBLIC_URL": f"http://localhost:{port}",
            },
            keep_coverage=False,
        )
        command = [str(installed.python), "-m", "streamlit", "run", "app.py", *streamlit_options(port)]
        with ServedApp(command, cwd=app_dir, env=env, port=port) as app, requests.Session() as browser:
            login = browser.get(
                f"{app.url}/auth/login", params={"provider": "local"}, allow_redirects=False, timeout=10
            )
            assert login.status_code == 302, f"{login.status_code} {login.text}\n{app.output()}"
            authorize = login.headers["location"]
            assert authorize.startswith(provider.issuer + "/")
            assert query(authorize)["redirect_uri"] == f"http://localhost:{port}/auth/callback/local"

            approved = browser.get(authorize + "&login_hint=alice", allow_redirects=False, timeout=10)
            assert approved.status_code == 302, approved.text
            callback = approved.headers["location"]
            assert callback.startswith(f"http://localhost:{port}/auth/callback/local?")

            signed_in = browser.get(callback, allow_redirects=False, timeout=10)
            assert signed_in.status_code in (302, 303), f"{signed_in.status_code} {signed_in.text}\n{app.output()}"
            assert browser.cookies.get(SESSION_COOKIE), (dict(browser.cookies), app.output())
            assert "Traceback" not in app.output()
