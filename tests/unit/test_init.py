"""``python -m auth init``'s decisions, on real folders: which script is the entry, what it
writes, what it never touches, how it merges, and that its checks speak start-up's words."""

from __future__ import annotations

import io
import os
import stat
from pathlib import Path

import pytest
from dotenv import dotenv_values

from auth import __main__ as command
from auth.address import PublicAddress
from auth.config import load_settings
from auth.errors import ConfigurationError
from auth.init import Outcome, check_shadowing, run_init, write_example
from auth.init_entry import find_entry, read_script
from auth.init_files import UnwritableValue, dotenv_value, merge_gitignore
from auth.init_report import dev_requirement
from auth.init_settings import InitOptions

ROOT = Path(__file__).resolve().parents[2]

SINGLE_PAGE = 'import streamlit as st\n\nst.title("Sales")\n'
NAVIGATION = (
    "import streamlit as st\n\n"
    'pages = [st.Page("home.py", title="Home", default=True), st.Page("views/reports.py", title="Reports")]\n'
    "st.navigation(pages).run()\n"
)
PAGE = "import streamlit as st\nfrom helpers import greeting\n\nst.write(greeting())\n"
HELPERS = "import streamlit as st\n\n\n@st.cache_data\ndef greeting() -> str:\n    return 'Hello'\n"
CORP = ("--provider corp", "https://login.example.com")


def app(folder: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def navigation_app(folder: Path) -> Path:
    """main.py's menu names home.py and views/reports.py; home.py and reports.py import helpers."""
    return app(
        folder,
        {"main.py": NAVIGATION, "home.py": PAGE, "views/reports.py": PAGE, "helpers.py": HELPERS},
    )


def init(
    folder: Path, options: InitOptions | None = None, *, environ: dict[str, str] | None = None, base_path: str = ""
) -> tuple[int, str]:
    out = io.StringIO()
    status = run_init(
        options or InitOptions(), folder=folder, environ=environ or {}, base_path=base_path, port=8501, out=out
    )
    return status, out.getvalue()


def corp(**changes: str | bool) -> InitOptions:
    values: dict[str, str | bool] = {
        "provider": "corp",
        "issuer": "https://login.example.com",
        "client_id": "corp-app",
        "client_secret": "corp-secret",
    }
    values.update(changes)
    return InitOptions(**values)  # type: ignore[arg-type]


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(path.relative_to(folder)): path.read_bytes() for path in sorted(folder.rglob("*")) if path.is_file()}


# -- which script is the entry --------------------------------------------------------


def test_a_single_script_app_is_its_own_entry(tmp_path: Path) -> None:
    app(tmp_path, {"dashboard.py": SINGLE_PAGE, "README.md": "# Sales"})
    assert find_entry(tmp_path).entry == tmp_path / "dashboard.py"


def test_pages_named_in_the_menu_and_imported_helpers_are_not_the_entry(tmp_path: Path) -> None:
    navigation_app(tmp_path)
    decision = find_entry(tmp_path)
    assert decision.entry == tmp_path / "main.py"
    assert decision.reason == "the only script that imports streamlit and that no other script uses"


def test_a_pages_folder_app_is_entered_through_its_top_level_script(tmp_path: Path) -> None:
    """Streamlit's llm-examples shape: Chatbot.py at the top, pages/ importing a helper."""
    app(tmp_path, {"Chatbot.py": SINGLE_PAGE, "pages/1_File_Q&A.py": PAGE, "helpers.py": HELPERS})
    assert find_entry(tmp_path).entry == tmp_path / "Chatbot.py"


def test_tests_setup_and_unparsable_scripts_are_never_the_entry(tmp_path: Path) -> None:
    app(
        tmp_path,
        {
            "main.py": SINGLE_PAGE,
            "test_main.py": "import streamlit\nfrom streamlit.testing.v1 import AppTest\n",
            "setup.py": "import streamlit\n",
            "broken.py": "import streamlit as st\nst.title(\n",
        },
    )
    assert find_entry(tmp_path).entry == tmp_path / "main.py"


def test_among_several_scripts_the_one_with_an_entry_name_wins(tmp_path: Path) -> None:
    app(tmp_path, {"streamlit_app.py": SINGLE_PAGE, "sandbox.py": SINGLE_PAGE})
    decision = find_entry(tmp_path)
    assert decision.entry == tmp_path / "streamlit_app.py"
    assert decision.reason == "of sandbox.py, streamlit_app.py, the one named like an entry script"


def test_a_wrapper_from_an_earlier_run_is_not_the_entry(tmp_path: Path) -> None:
    navigation_app(tmp_path)
    assert init(tmp_path, corp())[0] == 0
    assert read_script(tmp_path / "app.py") is not None
    assert find_entry(tmp_path).entry == tmp_path / "main.py"


def test_when_it_cannot_tell_it_lists_the_candidates_and_writes_nothing(tmp_path: Path) -> None:
    app(tmp_path, {"sales.py": SINGLE_PAGE, "costs.py": SINGLE_PAGE})
    before = snapshot(tmp_path)

    status, output = init(tmp_path, corp())

    assert status == 2
    assert output == (
        "python -m auth init: cannot tell which script is the app's entry script: several scripts could be "
        "the entry script.\n  costs.py\n  sales.py\n"
        "Name the one you give `streamlit run`: python -m auth init --entry FILE\n"
    )
    assert snapshot(tmp_path) == before


def test_a_folder_without_a_streamlit_script_says_so(tmp_path: Path) -> None:
    app(tmp_path, {"tool.py": "print('no streamlit here')\n"})
    status, output = init(tmp_path)
    assert status == 2
    assert f"no script in {tmp_path} imports streamlit" in output
    assert not (tmp_path / ".env").exists()


def test_entry_names_the_script_and_must_be_one(tmp_path: Path) -> None:
    app(tmp_path, {"sales.py": SINGLE_PAGE, "costs.py": SINGLE_PAGE})
    assert init(tmp_path, corp(entry="missing.py")) == (
        2,
        f"python -m auth init: --entry missing.py: not a .py file in {tmp_path}\n",
    )
    status, output = init(tmp_path, corp(entry="sales.py"))
    assert status == 0, output
    assert output.startswith("Entry script: sales.py (given with --entry)\n")
    assert 'app = st.App(HERE / "sales.py", routes=auth.routes)' in (tmp_path / "app.py").read_text()
    assert init(tmp_path, corp(entry="app.py"))[1] == (
        "python -m auth init: --entry app.py: it builds st.App(..., routes=...) already; name the script it runs\n"
    )


# -- what it writes -------------------------------------------------------------------


def test_a_first_run_writes_the_wrapper_a_private_env_and_gitignore(tmp_path: Path) -> None:
    navigation_app(tmp_path)
    pages = snapshot(tmp_path)

    status, output = init(tmp_path, corp())

    assert status == 0, output
    assert output.splitlines()[:4] == [
        "Entry script: main.py (the only script that imports streamlit and that no other script uses)",
        "  wrote       app.py (runs main.py with the sign-in routes)",
        "  wrote       .env (AUTH_PROVIDERS, AUTH_CORP_ISSUER, AUTH_CORP_CLIENT_ID, AUTH_CORP_CLIENT_SECRET, "
        "AUTH_PUBLIC_URL, AUTH_COOKIE_SECRET)",
        "  wrote       .gitignore (new: .env, .streamlit-auth/)",
    ]
    wrapper = read_script(tmp_path / "app.py")
    assert wrapper is not None and wrapper.builds_app_with_routes
    compile((tmp_path / "app.py").read_text(encoding="utf-8"), "app.py", "exec")
    env = dotenv_values(tmp_path / ".env")
    assert env["AUTH_PROVIDERS"] == "corp" and env["AUTH_CORP_CLIENT_SECRET"] == "corp-secret"
    assert env["AUTH_PUBLIC_URL"] == "http://localhost:8501"
    assert len(env["AUTH_COOKIE_SECRET"] or "") == 43  # secrets.token_urlsafe(32)
    assert env["AUTH_COOKIE_SECRET"] not in output and "corp-secret" not in output
    assert stat.S_IMODE((tmp_path / ".env").stat().st_mode) == 0o600
    assert (tmp_path / ".gitignore").read_text().splitlines()[-2:] == [".env", ".streamlit-auth/"]
    assert {name: data for name, data in snapshot(tmp_path).items() if name in pages} == pages  # scripts untouched


def test_each_run_writes_a_new_cookie_secret(tmp_path: Path) -> None:
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    secrets = set()
    for folder in ("one", "two"):
        app(tmp_path / folder, {"main.py": SINGLE_PAGE})
        init(tmp_path / folder, corp())
        secrets.add(dotenv_values(tmp_path / folder / ".env")["AUTH_COOKIE_SECRET"])
    assert len(secrets) == 2


def test_a_second_run_changes_nothing_and_says_so(tmp_path: Path) -> None:
    navigation_app(tmp_path)
    init(tmp_path, corp())
    before = snapshot(tmp_path)

    status, output = init(tmp_path, corp())

    assert status == 0, output
    assert snapshot(tmp_path) == before  # the cookie secret too: a new one would sign everyone out
    assert output.splitlines()[1:4] == [
        "  left alone  app.py (already as it would be written)",
        "  left alone  .env (it already has these settings)",
        "  left alone  .gitignore (it already lists .env, .streamlit-auth/)",
    ]


def test_a_file_named_like_the_wrapper_is_replaced_only_with_force(tmp_path: Path) -> None:
    app(tmp_path, {"streamlit_app.py": "import streamlit as st\nimport app\n", "app.py": "VERSION = 1\n"})

    status, output = init(tmp_path, corp())

    assert status == 1
    assert (tmp_path / "app.py").read_text() == "VERSION = 1\n"
    assert "  left alone  app.py (it exists; --force replaces it)" in output
    assert output.endswith(
        "Problem: app.py exists but does not build st.App(..., routes=auth.routes), so `streamlit run app.py` "
        "would not serve sign-in: move it away, or pass --force to replace it\n"
    )
    status, output = init(tmp_path, corp(force=True))
    assert status == 0, output
    assert "  wrote       app.py (replaced, --force: runs streamlit_app.py with the sign-in routes)" in output


def test_an_entry_named_app_py_stays_and_the_wrapper_is_auth_app_py(tmp_path: Path) -> None:
    app(tmp_path, {"app.py": SINGLE_PAGE})

    status, output = init(tmp_path, corp(force=True))

    assert status == 0, output
    assert (tmp_path / "app.py").read_text() == SINGLE_PAGE
    assert 'app = st.App(HERE / "app.py", routes=auth.routes)' in (tmp_path / "auth_app.py").read_text()
    assert "      from auth_app import auth\n      auth.require_login()\n" in output
    assert output.endswith("Run it:\n  streamlit run auth_app.py --server.port 8501\n")


def test_an_existing_env_is_merged_not_rewritten(tmp_path: Path) -> None:
    app(tmp_path, {"main.py": SINGLE_PAGE})
    own = "OPENAI_API_KEY=sk-own  # the app's own\nAUTH_COOKIE_SECRET=" + "k" * 40 + "\nAUTH_CORP_CLIENT_ID=old-id\n"
    (tmp_path / ".env").write_text(own, encoding="utf-8")

    status, output = init(tmp_path, corp())

    text = (tmp_path / ".env").read_text()
    assert text.startswith(own)  # every line of the user's stays, in place
    env = dotenv_values(tmp_path / ".env")
    assert env["AUTH_CORP_CLIENT_ID"] == "old-id" and env["AUTH_COOKIE_SECRET"] == "k" * 40
    assert env["AUTH_PROVIDERS"] == "corp" and env["AUTH_CORP_ISSUER"] == "https://login.example.com"
    assert (
        "  wrote       .env (added AUTH_PROVIDERS, AUTH_CORP_ISSUER, AUTH_CORP_CLIENT_SECRET, AUTH_PUBLIC_URL)"
        in output
    )
    assert "  left alone  .env's AUTH_CORP_CLIENT_ID (set there to another value; --force replaces it)" in output
    assert status == 0

    status, output = init(tmp_path, corp(force=True))

    env = dotenv_values(tmp_path / ".env")
    assert env["AUTH_CORP_CLIENT_ID"] == "corp-app"  # asked for, and forced
    assert env["AUTH_COOKIE_SECRET"] == "k" * 40  # never replaced: it would sign everyone out
    assert env["OPENAI_API_KEY"] == "sk-own"
    assert "  wrote       .env (changed AUTH_CORP_CLIENT_ID)" in output
    assert text.count("\n") == (tmp_path / ".env").read_text().count("\n")  # replaced in place


def test_a_second_provider_joins_the_first(tmp_path: Path) -> None:
    app(tmp_path, {"main.py": SINGLE_PAGE})
    init(tmp_path, corp())
    status, output = init(tmp_path, InitOptions(provider="google", client_id="g-id", client_secret="g-secret"))

    assert status == 0, output
    assert dotenv_values(tmp_path / ".env")["AUTH_PROVIDERS"] == "corp,google"
    assert "changed AUTH_PROVIDERS" in output


def test_a_placeholder_left_empty_is_filled_by_a_later_run(tmp_path: Path) -> None:
    app(tmp_path, {"main.py": SINGLE_PAGE})
    init(tmp_path, InitOptions(provider="google"))
    assert dotenv_values(tmp_path / ".env")["AUTH_GOOGLE_CLIENT_ID"] == ""

    status, output = init(tmp_path, InitOptions(provider="google", client_id="g-id", client_secret="g-secret"))

    assert status == 0, output
    assert "  wrote       .env (added AUTH_GOOGLE_CLIENT_ID, AUTH_GOOGLE_CLIENT_SECRET)" in output
    assert dotenv_values(tmp_path / ".env")["AUTH_GOOGLE_CLIENT_ID"] == "g-id"


@pytest.mark.parametrize(
    ("existing", "written", "added"),
    [
        (None, "\n# Sign-in (python -m auth init): its secrets and its session store\n.env\n.streamlit-auth/\n", 2),
        (
            "__pycache__/",
            "__pycache__/\n\n# Sign-in (python -m auth init): its secrets and its session store\n"
            ".env\n.streamlit-auth/\n",
            2,
        ),
        ("/.env\n.streamlit-auth\n", "/.env\n.streamlit-auth\n", 0),
        (
            "# .env\n",
            "# .env\n\n# Sign-in (python -m auth init): its secrets and its session store\n.env\n.streamlit-auth/\n",
            2,
        ),
    ],
)
def test_gitignore_gains_each_line_once(existing: str | None, written: str, added: int) -> None:
    text, lines = merge_gitignore(existing, [".env", ".streamlit-auth/"])
    assert len(lines) == added
    assert text == (written if existing is not None or added == 0 else written.lstrip("\n"))


def test_the_store_folder_ignored_is_the_one_the_settings_name(tmp_path: Path) -> None:
    app(tmp_path, {"main.py": SINGLE_PAGE})
    init(tmp_path, corp(), environ={"AUTH_STORE": "sqlite:///var/sessions.db"})
    assert (tmp_path / ".gitignore").read_text().splitlines()[-2:] == [".env", "var/"]


@pytest.mark.parametrize("value", ["plain-Value_1.2", "a b", "x#y", "it's", "back\\slash", 'q"uote', "$HOME", ""])
def test_values_read_back_as_written(tmp_path: Path, value: str) -> None:
    (tmp_path / ".env").write_text(f"KEY={dotenv_value(value)}\n", encoding="utf-8")
    assert dotenv_values(tmp_path / ".env")["KEY"] == value


@pytest.mark.parametrize("value", ["two\nlines", "${HOME}"])
def test_values_a_dotenv_file_would_change_are_refused(tmp_path: Path, value: str) -> None:
    with pytest.raises(UnwritableValue):
        dotenv_value(value)
    app(tmp_path, {"main.py": SINGLE_PAGE})
    status, output = init(tmp_path, corp(client_secret=value))
    assert status == 2
    assert output == (
        "python -m auth init: AUTH_CORP_CLIENT_SECRET: a line break or '${' (which .env files expand) "
        "cannot be written to .env\n"
    )
    assert not (tmp_path / ".env").exists()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (InitOptions(provider="google", realm="corp"), "--realm does not apply to a provider of kind google"),
        (InitOptions(provider="keycloak", issuer="https://sso/realms/a", url="https://sso"), "--url does not apply"),
        (InitOptions(provider="corp", url="https://sso"), "--url does not apply to a provider of kind oidc"),
        (InitOptions(provider="my-idp"), "--provider 'my-idp': use letters, digits and underscores"),
    ],
)
def test_options_that_do_not_fit_the_provider_write_nothing(tmp_path: Path, options: InitOptions, message: str) -> None:
    app(tmp_path, {"main.py": SINGLE_PAGE})
    status, output = init(tmp_path, options)
    assert status == 2
    assert output.startswith(f"python -m auth init: {message}")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["main.py"]


# -- what it checks and says ----------------------------------------------------------


def test_missing_values_are_reported_in_start_ups_own_words(tmp_path: Path) -> None:
    app(tmp_path, {"main.py": SINGLE_PAGE})

    status, output = init(tmp_path, InitOptions(provider="keycloak", url="https://sso.example.com"))

    with pytest.raises(ConfigurationError) as start_up:
        load_settings({k: v or "" for k, v in dotenv_values(tmp_path / ".env").items()})
    assert len(start_up.value.problems) == 3
    assert "".join(f"  - {problem}\n" for problem in start_up.value.problems) in output
    assert "  - AUTH_KEYCLOAK_URL and AUTH_KEYCLOAK_REALM are required for Keycloak" in output
    assert "Problem: .env is not complete yet: fill in what the 3 lines above name" in output
    assert status == 1


def test_a_bad_public_url_is_reported_and_no_uri_is_printed(tmp_path: Path) -> None:
    app(tmp_path, {"main.py": SINGLE_PAGE})
    status, output = init(tmp_path, corp(public_url="localhost:8501"))
    assert status == 1
    assert "  - AUTH_PUBLIC_URL must be an absolute http(s) URL such as https://apps.example.com" in output
    assert "Register at" not in output


def test_the_uris_to_register_are_the_apps_own(tmp_path: Path) -> None:
    app(tmp_path, {"main.py": SINGLE_PAGE})

    status, output = init(tmp_path, corp(public_url="https://apps.example.com/sales"), base_path="/sales")

    settings = load_settings({k: v or "" for k, v in dotenv_values(tmp_path / ".env").items()}, base_path="/sales")
    address = PublicAddress(settings)
    assert status == 0, output
    assert (
        "Register at corp (oidc):\n"
        f"  redirect URI: {address.redirect_uri('corp')}\n"
        f"  post-logout redirect URI: {address.post_logout_redirect_uri()}\n"
        f"  back-channel logout URL (where it offers one): {address.backchannel_logout_uri()}\n"
    ) in output
    assert "  redirect URI: https://apps.example.com/sales/auth/callback/corp\n" in output
    assert "  post-logout redirect URI: https://apps.example.com/sales/\n" in output
    assert output.endswith("Run it:\n  streamlit run app.py\n")  # no port to pin behind a proxy


def test_google_gets_its_redirect_uri_even_before_it_issues_a_client(tmp_path: Path) -> None:
    app(tmp_path, {"main.py": SINGLE_PAGE})
    status, output = init(tmp_path, InitOptions(provider="google"))
    assert status == 1
    assert (
        "Register at google:\n  Authorized redirect URIs: http://localhost:8501/auth/callback/google\n\n"
    ) in output  # nothing for logout: Google's logout revokes the tokens


def test_without_a_provider_it_is_set_up_for_the_development_provider(tmp_path: Path) -> None:
    app(tmp_path, {"main.py": SINGLE_PAGE})

    status, output = init(tmp_path)

    assert status == 0, output
    assert "AUTH_PROVIDERS" not in dotenv_values(tmp_path / ".env")
    assert "Settings: complete" in output and "Register at" not in output
    assert "Run it:\n  python -m auth.dev app.py\n" in output


def test_the_pages_are_to_be_guarded_the_way_the_entry_script_builds_them(tmp_path: Path) -> None:
    navigation_app(tmp_path / "menu")
    app(tmp_path / "single", {"main.py": SINGLE_PAGE, "pages/2_Costs.py": SINGLE_PAGE})

    menu = init(tmp_path / "menu", corp())[1]
    single = init(tmp_path / "single", corp())[1]

    assert "  In main.py: `from app import auth`, then auth.navigation(...) in place of st.navigation(...)" in menu
    assert "  At the top of main.py (and of each page script):\n      from app import auth\n" in single
    assert "Its pages/ folder holds pages too" in single and "pages/" not in menu


def test_an_app_module_named_auth_is_reported(tmp_path: Path) -> None:
    app(tmp_path, {"main.py": "import streamlit as st\nimport auth\n", "auth.py": "USERS = {}\n"})
    status, output = init(tmp_path, corp())
    assert status == 1
    assert f"Problem: auth.py in {tmp_path} hides the sign-in package" in output


def test_a_package_named_auth_is_reported_but_not_a_plain_folder(tmp_path: Path) -> None:
    app(tmp_path / "package", {"main.py": SINGLE_PAGE, "auth/__init__.py": "", "auth/users.py": ""})
    app(tmp_path / "folder", {"main.py": SINGLE_PAGE, "auth/users.yaml": "alice: admin\n"})
    assert "Problem: auth/ in" in init(tmp_path / "package", corp())[1]
    assert init(tmp_path / "folder", corp())[0] == 0


def test_this_repository_is_not_shadowing_itself() -> None:
    outcome = Outcome()
    check_shadowing(ROOT, outcome)
    assert outcome.problems == []


def test_the_development_provider_is_named_as_this_installation_requires_it() -> None:
    assert dev_requirement().startswith("oidc-provider-mock") and "<" in dev_requirement()


def test_an_env_file_named_in_the_environment_is_pointed_out(tmp_path: Path) -> None:
    app(tmp_path, {"main.py": SINGLE_PAGE})
    status, output = init(tmp_path, corp(), environ={"AUTH_ENV_FILE": "/etc/app.env"})
    assert status == 1
    assert "Problem: AUTH_ENV_FILE is set in this environment: the app reads '/etc/app.env', not .env" in output


# -- the example, and the command line ------------------------------------------------


def test_example_writes_the_packaged_env_example_once(tmp_path: Path) -> None:
    out = io.StringIO()
    assert write_example(tmp_path, False, out) == 0
    assert (tmp_path / ".env.example").read_text() == (ROOT / ".env.example").read_text()
    assert write_example(tmp_path, False, out) == 1
    assert out.getvalue().splitlines()[-1] == "left alone  .env.example (it exists; --force replaces it)"


def test_the_command_line_runs_init_in_the_current_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    navigation_app(tmp_path)
    monkeypatch.chdir(tmp_path)
    for name in [name for name in os.environ if name.startswith("AUTH_")]:
        monkeypatch.delenv(name)

    status = command.main(
        ["init", "--provider", "keycloak", "--url", "https://sso.example.com", "--realm", "sales"]
        + ["--client-id", "sales-app", "--client-secret", "s3cret", "--public-url", "http://localhost:8600"]
    )

    output = capsys.readouterr().out
    assert status == 0, output
    assert dotenv_values(tmp_path / ".env")["AUTH_KEYCLOAK_REALM"] == "sales"
    assert "  Valid redirect URIs: http://localhost:8600/auth/callback/keycloak\n" in output
    assert output.endswith("Run it:\n  streamlit run app.py --server.port 8600\n")
