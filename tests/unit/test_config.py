"""``auth.config`` (with ``auth.presets``, ``auth.reader`` and ``auth.secret``): every rule, its exact message."""

from __future__ import annotations

from pathlib import Path

import pytest

from auth.config import Settings, load_settings, read_environment
from auth.errors import ConfigurationError
from auth.secret import Secret

COOKIE_SECRET = "Ck9-cookie-secret-value-0123456789abcdef"  # 40 characters
GOOGLE_SECRET = "Gg7-google-client-secret-value"
CORP_SECRET = "Cp3-corp-client-secret-value"
HINT = "python -c 'import secrets; print(secrets.token_urlsafe(32))'"
INSECURE_URL = (
    "must use https: plain http is accepted only for a provider on this machine (localhost, 127.0.0.1) "
    "or on a host listed in AUTH_INSECURE_PROVIDER_HOSTS, got host"
)


def google_env(**overrides: str | None) -> dict[str, str]:
    """A valid single-Google configuration; ``None`` removes a variable."""
    env = {
        "AUTH_PROVIDERS": "google",
        "AUTH_GOOGLE_CLIENT_ID": "google-client-id",
        "AUTH_GOOGLE_CLIENT_SECRET": GOOGLE_SECRET,
        "AUTH_COOKIE_SECRET": COOKIE_SECRET,
    }
    env.update(overrides)
    return {key: value for key, value in env.items() if value is not None}


def corp_env(**overrides: str | None) -> dict[str, str]:
    """A valid single generic-OIDC configuration (provider "corp")."""
    env = {
        "AUTH_PROVIDERS": "corp",
        "AUTH_CORP_ISSUER": "https://login.corp.example",
        "AUTH_CORP_CLIENT_ID": "corp-client-id",
        "AUTH_CORP_CLIENT_SECRET": CORP_SECRET,
        "AUTH_COOKIE_SECRET": COOKIE_SECRET,
    }
    env.update(overrides)
    return {key: value for key, value in env.items() if value is not None}


def secret_values(environ: dict[str, str]) -> list[str]:
    return [
        part.strip()
        for key, value in environ.items()
        if "SECRET" in key and not key.endswith("_FILE")
        for part in value.split(",")
        if part.strip()
    ]


def problems_of(environ: dict[str, str], *, base_path: str = "") -> tuple[str, ...]:
    """The problems ``load_settings`` reports; also checks that no secret value leaks."""
    with pytest.raises(ConfigurationError) as caught:
        load_settings(environ, base_path=base_path)
    error = caught.value
    text = str(error)
    for value in secret_values(environ):
        assert value not in text
        for problem in error.problems:
            assert value not in problem
    for problem in error.problems:
        assert f"  - {problem}\n" in text
    return error.problems


def one_problem(environ: dict[str, str], *, base_path: str = "") -> str:
    problems = problems_of(environ, base_path=base_path)
    assert len(problems) == 1, problems
    return problems[0]


# --- AUTH_PROVIDERS -----------------------------------------------------------------


def test_minimal_google_configuration_loads() -> None:
    settings = load_settings(google_env())
    assert isinstance(settings, Settings)
    assert [p.name for p in settings.providers] == ["google"]
    assert settings.cookie_secrets == (Secret(COOKIE_SECRET),)
    assert settings.public_url == "http://localhost:8501"
    assert settings.base_path == ""
    assert settings.redirect_uri("google") == "http://localhost:8501/auth/callback/google"
    assert settings.cookie_path == "/"
    assert settings.session_timeout == 600.0
    assert settings.cookie_name == "streamlit_auth"
    assert settings.cookie_secure is False
    assert settings.http_timeout == 10.0
    assert settings.log_level == "INFO"
    assert settings.warnings == ()


def test_providers_missing() -> None:
    assert one_problem(google_env(AUTH_PROVIDERS=None)) == (
        "AUTH_PROVIDERS is required: a comma-separated list of provider names, "
        "e.g. AUTH_PROVIDERS=google or AUTH_PROVIDERS=google,keycloak"
    )


def test_providers_blank_counts_as_missing() -> None:
    assert one_problem(google_env(AUTH_PROVIDERS="   ")).startswith("AUTH_PROVIDERS is required:")


@pytest.mark.parametrize("value", [",", " , ,"])
def test_providers_empty_list(value: str) -> None:
    assert one_problem(google_env(AUTH_PROVIDERS=value)) == (
        "AUTH_PROVIDERS is empty: name at least one provider, e.g. AUTH_PROVIDERS=google"
    )


@pytest.mark.parametrize("name", ["1google", "my-idp", "_corp", "g.oogle"])
def test_provider_name_invalid(name: str) -> None:
    assert one_problem(google_env(AUTH_PROVIDERS=name)) == (
        f"AUTH_PROVIDERS: {name!r} is not a valid provider name "
        "(use letters, digits and underscores, starting with a letter)"
    )


def test_provider_listed_twice_case_insensitively() -> None:
    assert one_problem(google_env(AUTH_PROVIDERS="google, Google")) == "AUTH_PROVIDERS: 'google' is listed twice"


def test_provider_names_are_lower_cased_and_keep_their_order() -> None:
    env = google_env(AUTH_PROVIDERS="Corp,google")
    env.update({k: v for k, v in corp_env().items() if k.startswith("AUTH_CORP_")})
    settings = load_settings(env)
    assert [p.name for p in settings.providers] == ["corp", "google"]
    assert settings.provider("google") is settings.providers[1]
    assert settings.provider("missing") is None


# --- per-provider rules ---------------------------------------------------------------


def test_issuer_missing() -> None:
    assert one_problem(corp_env(AUTH_CORP_ISSUER=None)) == (
        "AUTH_CORP_ISSUER is required (the provider's issuer URL, e.g. https://login.example.com)"
    )


@pytest.mark.parametrize(
    "issuer",
    [
        "login.corp.example",
        "ftp://login.corp.example",
        "https://",
        "https://login.corp.example/?tenant=1",
        "https://login.corp.example#frag",
    ],
)
def test_issuer_not_a_url_or_with_query(issuer: str) -> None:
    assert one_problem(corp_env(AUTH_CORP_ISSUER=issuer)) == (
        "AUTH_CORP_ISSUER must be an absolute http(s) URL without query or fragment, "
        f"got {issuer.rstrip('/')!r}"  # the message shows the issuer as read: trailing slash removed
    )


def test_issuer_trailing_slash_is_removed() -> None:
    provider = load_settings(corp_env(AUTH_CORP_ISSUER="https://login.corp.example/tenant/")).providers[0]
    assert provider.issuer == "https://login.corp.example/tenant"
    assert provider.accepted_issuers == ("https://login.corp.example/tenant",)


def test_client_id_missing() -> None:
    assert one_problem(corp_env(AUTH_CORP_CLIENT_ID=None)) == (
        "AUTH_CORP_CLIENT_ID is required (the client id registered at the provider)"
    )


def test_client_secret_missing() -> None:
    assert one_problem(corp_env(AUTH_CORP_CLIENT_SECRET=None)) == (
        "AUTH_CORP_CLIENT_SECRET (or AUTH_CORP_CLIENT_SECRET_FILE) is required "
        "(the client secret issued by the provider)"
    )


@pytest.mark.parametrize("scopes", ["email profile", "openidx,email"])
def test_scopes_without_openid(scopes: str) -> None:
    assert one_problem(corp_env(AUTH_CORP_SCOPES=scopes)) == (f"AUTH_CORP_SCOPES must include 'openid', got {scopes!r}")


def test_scopes_space_or_comma_separated_deduplicated() -> None:
    provider = load_settings(corp_env(AUTH_CORP_SCOPES="openid,email  groups email")).providers[0]
    assert provider.scopes == ("openid", "email", "groups")


def test_scopes_default() -> None:
    assert load_settings(corp_env()).providers[0].scopes == ("openid", "email", "profile")


def test_kind_invalid() -> None:
    assert one_problem(corp_env(AUTH_CORP_KIND="azure")) == (
        "AUTH_CORP_KIND must be one of oidc, google, keycloak, got 'azure'"
    )


def test_token_auth_method_invalid() -> None:
    assert one_problem(corp_env(AUTH_CORP_TOKEN_AUTH_METHOD="private_key_jwt")) == (
        "AUTH_CORP_TOKEN_AUTH_METHOD must be one of client_secret_basic, client_secret_post, got 'private_key_jwt'"
    )


@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post"])
def test_token_auth_method_valid(method: str) -> None:
    assert load_settings(corp_env(AUTH_CORP_TOKEN_AUTH_METHOD=method)).providers[0].token_auth_method == method


def test_token_auth_method_default_is_none() -> None:
    assert load_settings(corp_env()).providers[0].token_auth_method is None


@pytest.mark.parametrize(("value", "unknown"), [("always", "always"), ("login sometimes", "sometimes")])
def test_prompt_invalid(value: str, unknown: str) -> None:
    assert one_problem(corp_env(AUTH_CORP_PROMPT=value)) == (
        f"AUTH_CORP_PROMPT: {unknown!r} is not a prompt value; use any of "
        "none, login, consent, select_account (space-separated), or 'off'"
    )


def test_prompt_several_values() -> None:
    provider = load_settings(corp_env(AUTH_CORP_PROMPT="login  consent")).providers[0]
    assert provider.prompt == "login consent"
    assert provider.authorization_params() == {"prompt": "login consent"}


def test_prompt_default_for_generic_provider_is_none() -> None:
    provider = load_settings(corp_env()).providers[0]
    assert provider.prompt is None
    assert provider.authorization_params() == {}


def test_hosted_domain_on_non_google_provider() -> None:
    assert one_problem(corp_env(AUTH_CORP_HOSTED_DOMAIN="example.com")) == (
        "AUTH_CORP_HOSTED_DOMAIN applies only to Google providers (KIND=google)"
    )


@pytest.mark.parametrize("url", ["not-a-url", "/.well-known/openid-configuration", "ftp://corp.example/x"])
def test_discovery_url_invalid(url: str) -> None:
    assert one_problem(corp_env(AUTH_CORP_DISCOVERY_URL=url)) == (
        f"AUTH_CORP_DISCOVERY_URL must be an absolute http(s) URL, got {url!r}"
    )


@pytest.mark.parametrize(
    "issuer",
    [
        "http://login.corp.example",
        "http://10.0.0.5:8080/realms/x",
        "http://localhost.evil.example",
        "http://127.0.0.1.evil.example",
    ],
)
def test_http_issuer_on_remote_host_rejected(issuer: str) -> None:
    host = issuer.split("//")[1].split(":")[0].split("/")[0]
    assert one_problem(corp_env(AUTH_CORP_ISSUER=issuer)) == f"AUTH_CORP_ISSUER {INSECURE_URL} {host!r}"


def test_http_discovery_url_on_remote_host_rejected() -> None:
    """A swapped discovery document over plain http could name the attacker's JWKS."""
    env = corp_env(AUTH_CORP_DISCOVERY_URL="http://login.corp.example/.well-known/openid-configuration")
    assert one_problem(env) == f"AUTH_CORP_DISCOVERY_URL {INSECURE_URL} 'login.corp.example'"


def test_keycloak_http_url_names_the_url_setting() -> None:
    env = {
        "AUTH_PROVIDERS": "keycloak",
        "AUTH_KEYCLOAK_URL": "http://sso.corp.example",
        "AUTH_KEYCLOAK_REALM": "r",
        "AUTH_KEYCLOAK_CLIENT_ID": "c",
        "AUTH_KEYCLOAK_CLIENT_SECRET": CORP_SECRET,
        "AUTH_COOKIE_SECRET": COOKIE_SECRET,
    }
    assert one_problem(env) == f"AUTH_KEYCLOAK_URL {INSECURE_URL} 'sso.corp.example'"


def test_insecure_provider_hosts_opt_in_allows_plain_http_to_listed_hosts_only() -> None:
    env = corp_env(
        AUTH_CORP_ISSUER="http://keycloak:8080/realms/x",
        AUTH_CORP_DISCOVERY_URL="http://KeyCloak:8080/realms/x/.well-known/openid-configuration",
        AUTH_INSECURE_PROVIDER_HOSTS="keycloak, sso.dev",
    )
    settings = load_settings(env)
    assert settings.insecure_provider_hosts == ("keycloak", "sso.dev")
    other = corp_env(AUTH_CORP_ISSUER="http://other:8080", AUTH_INSECURE_PROVIDER_HOSTS="keycloak")
    assert one_problem(other) == f"AUTH_CORP_ISSUER {INSECURE_URL} 'other'"


@pytest.mark.parametrize("value", ["http://keycloak", "keycloak:8080", "a/b", "-x"])
def test_insecure_provider_hosts_takes_host_names_only(value: str) -> None:
    assert one_problem(corp_env(AUTH_INSECURE_PROVIDER_HOSTS=value)) == (
        f"AUTH_INSECURE_PROVIDER_HOSTS: {value!r} is not a host name; list names only, "
        "e.g. AUTH_INSECURE_PROVIDER_HOSTS=keycloak"
    )


@pytest.mark.parametrize("issuer", ["http://127.0.0.1:8080/realms/demo", "http://localhost:8080", "http://[::1]:9000"])
def test_http_issuer_on_loopback_accepted(issuer: str) -> None:
    assert load_settings(corp_env(AUTH_CORP_ISSUER=issuer)).providers[0].issuer == issuer


# --- AUTH_PUBLIC_URL ------------------------------------------------------------------


@pytest.mark.parametrize("url", ["apps.example.com", "/app", "ftp://apps.example.com", "https://"])
def test_public_url_not_absolute(url: str) -> None:
    assert one_problem(google_env(AUTH_PUBLIC_URL=url)) == (
        f"AUTH_PUBLIC_URL must be an absolute http(s) URL such as https://apps.example.com, got {url!r}"
    )


@pytest.mark.parametrize("url", ["https://apps.example.com/?x=1", "https://apps.example.com#top"])
def test_public_url_with_query_or_fragment(url: str) -> None:
    assert one_problem(google_env(AUTH_PUBLIC_URL=url)) == (
        "AUTH_PUBLIC_URL must not contain a query string or fragment"
    )


def test_public_url_path_without_base_path() -> None:
    assert one_problem(google_env(AUTH_PUBLIC_URL="https://apps.example.com/app")) == (
        "AUTH_PUBLIC_URL: its path '/app' must match Streamlit's server.baseUrlPath ('/'), "
        "because the app serves <AUTH_PUBLIC_URL>/auth/callback/<provider>"
    )


def test_public_url_root_with_base_path() -> None:
    assert one_problem(google_env(AUTH_PUBLIC_URL="https://apps.example.com"), base_path="app") == (
        "AUTH_PUBLIC_URL: its path '/' must match Streamlit's server.baseUrlPath ('/app'), "
        "because the app serves <AUTH_PUBLIC_URL>/auth/callback/<provider>"
    )


@pytest.mark.parametrize("url", ["https://apps.example.com/app", "https://apps.example.com/app/"])
@pytest.mark.parametrize("base_path", ["app", "/app/", "/app"])
def test_public_url_matching_base_path(url: str, base_path: str) -> None:
    settings = load_settings(google_env(AUTH_PUBLIC_URL=url), base_path=base_path)
    assert settings.public_url == "https://apps.example.com/app"
    assert settings.base_path == "/app"
    assert settings.redirect_uri("google") == "https://apps.example.com/app/auth/callback/google"
    assert settings.cookie_path == "/app"


def test_public_url_default_follows_base_path() -> None:
    settings = load_settings(google_env(), base_path="app")
    assert settings.public_url == "http://localhost:8501/app"
    assert not settings.public_url_explicit
    assert settings.redirect_uri("google") == "http://localhost:8501/app/auth/callback/google"


def test_public_url_default_follows_streamlits_port() -> None:
    settings = load_settings(google_env(), port=8599)
    assert settings.public_url == "http://localhost:8599"
    assert settings.redirect_uri("google") == "http://localhost:8599/auth/callback/google"
    explicit = load_settings(google_env(AUTH_PUBLIC_URL="http://localhost:8501"), port=8599)
    assert explicit.public_url == "http://localhost:8501" and explicit.public_url_explicit


# --- callbacks: one redirect URI per provider -------------------------------------------


def test_each_provider_has_its_own_redirect_uri() -> None:
    env = {**google_env(), **corp_env(), "AUTH_PROVIDERS": "google,corp"}
    settings = load_settings(env)
    assert settings.redirect_uri("google") == "http://localhost:8501/auth/callback/google"
    assert settings.redirect_uri("corp") == "http://localhost:8501/auth/callback/corp"
    assert not settings.legacy_callback


def test_legacy_callback_with_one_provider_uses_the_shared_uri() -> None:
    settings = load_settings(google_env(AUTH_LEGACY_CALLBACK="true"))
    assert settings.legacy_callback
    assert settings.redirect_uri("google") == "http://localhost:8501/auth/callback"


def test_legacy_callback_with_several_providers_is_refused() -> None:
    env = {**google_env(), **corp_env(), "AUTH_PROVIDERS": "google,corp", "AUTH_LEGACY_CALLBACK": "yes"}
    assert one_problem(env) == (
        "AUTH_LEGACY_CALLBACK=true needs exactly one provider: with several, one shared "
        "callback lets a hostile provider take over accounts at another (mix-up attack); "
        "register <AUTH_PUBLIC_URL>/auth/callback/<provider> at each provider and remove the setting"
    )


def test_legacy_callback_must_be_a_boolean() -> None:
    assert one_problem(google_env(AUTH_LEGACY_CALLBACK="maybe")) == (
        "AUTH_LEGACY_CALLBACK must be true or false, got 'maybe'"
    )


# --- rate limit and provider capacity ----------------------------------------------------


@pytest.mark.parametrize(("raw", "expected"), [("30", 30), ("30/min", 30), ("500 / minute", 500), ("off", 0)])
def test_rate_limit_values(raw: str, expected: int) -> None:
    assert load_settings(google_env(AUTH_RATE_LIMIT=raw)).rate_limit_per_minute == expected


def test_rate_limit_default() -> None:
    assert load_settings(google_env()).rate_limit_per_minute == 120


@pytest.mark.parametrize("raw", ["fast", "10/s", "-5", "0.5", "1000000"])
def test_rate_limit_invalid(raw: str) -> None:
    assert one_problem(google_env(AUTH_RATE_LIMIT=raw)) == (
        "AUTH_RATE_LIMIT must be a number of sign-in requests per minute and client address "
        f"between 1 and 100000 (e.g. 120/min), or off; got {raw!r}"
    )


@pytest.mark.parametrize("raw", ["0", "many", "1000"])
def test_provider_concurrency_invalid(raw: str) -> None:
    assert one_problem(google_env(AUTH_PROVIDER_CONCURRENCY=raw)) == (
        f"AUTH_PROVIDER_CONCURRENCY must be a whole number between 1 and 256, got {raw!r}"
    )


# --- AUTH_COOKIE_SECRET ---------------------------------------------------------------


def test_cookie_secret_missing() -> None:
    assert one_problem(google_env(AUTH_COOKIE_SECRET=None)) == (
        "AUTH_COOKIE_SECRET is required: one or more comma-separated random secrets "
        f"of at least 32 characters (generate one with: {HINT})"
    )


def test_cookie_secret_only_commas_is_empty() -> None:
    assert one_problem(google_env(AUTH_COOKIE_SECRET=" , ,")) == "AUTH_COOKIE_SECRET is empty"


def test_cookie_secret_too_short_names_number_and_length_not_value() -> None:
    short = "Zq7-short-secret"  # 16 characters
    problem = one_problem(google_env(AUTH_COOKIE_SECRET=short))
    assert problem == (
        "AUTH_COOKIE_SECRET: secret #1 is 16 characters long; each secret needs at least 32 "
        f"(generate one with: {HINT})"
    )
    assert short not in problem


def test_cookie_secret_31_characters_is_too_short_32_is_enough() -> None:
    assert "secret #1 is 31 characters long" in one_problem(google_env(AUTH_COOKIE_SECRET="a" * 31))
    assert load_settings(google_env(AUTH_COOKIE_SECRET="a" * 32)).cookie_secrets == (Secret("a" * 32),)


def test_several_cookie_secrets_second_too_short() -> None:
    short = "Wx2-second-secret-short"  # 23 characters
    problem = one_problem(google_env(AUTH_COOKIE_SECRET=f"{COOKIE_SECRET}, {short}"))
    assert problem == (
        "AUTH_COOKIE_SECRET: secret #2 is 23 characters long; each secret needs at least 32 "
        f"(generate one with: {HINT})"
    )


def test_several_cookie_secrets_in_order() -> None:
    old = "Old-cookie-secret-value-0123456789abcdef"
    settings = load_settings(google_env(AUTH_COOKIE_SECRET=f" {COOKIE_SECRET} ,{old},"))
    assert settings.cookie_secrets == (Secret(COOKIE_SECRET), Secret(old))


DEV_SECRET = "insecure-dev-only-0123456789abcdefghij"


@pytest.mark.parametrize("public_url", [None, "http://localhost:8501", "http://127.0.0.1:8501"])
def test_dev_secret_accepted_on_this_machine(public_url: str | None) -> None:
    settings = load_settings(google_env(AUTH_COOKIE_SECRET=DEV_SECRET, AUTH_PUBLIC_URL=public_url))
    assert settings.cookie_secrets == (Secret(DEV_SECRET),)


def test_dev_secret_rejected_on_public_url() -> None:
    env = google_env(AUTH_COOKIE_SECRET=f"{COOKIE_SECRET},{DEV_SECRET}", AUTH_PUBLIC_URL="https://apps.example.com")
    assert one_problem(env) == (
        "AUTH_COOKIE_SECRET: secret #2 is a published development secret and "
        "AUTH_PUBLIC_URL is not on this machine; generate your own"
    )


# --- durations, booleans, names, log level -----------------------------------------


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("600", 600.0),
        ("30s", 30.0),
        ("10m", 600.0),
        ("8h", 28800.0),
        ("1d", 86400.0),
        ("1.5h", 5400.0),
        (" 10M ", 600.0),
        ("400d", 400 * 86400.0),
        ("1", 1.0),
    ],
)
def test_session_timeout_forms(value: str, seconds: float) -> None:
    env = google_env(AUTH_SESSION_TIMEOUT=value, AUTH_SESSION_MAX_AGE="400d")
    assert load_settings(env).session_timeout == seconds


# -- the session store and the two timeouts --------------------------------------------


def test_store_defaults_to_sqlite_beside_the_working_directory(tmp_path: Path) -> None:
    settings = load_settings(google_env(), base_dir=tmp_path)
    assert settings.store.kind == "sqlite"
    assert settings.store.path == tmp_path / ".streamlit-auth" / "sessions.db"
    assert settings.stateful
    assert settings.session_timeout == 600.0
    assert settings.session_max_age == 8 * 3600.0
    assert settings.session_lifetime == 8 * 3600.0


@pytest.mark.parametrize(
    ("url", "kind"),
    [("memory://", "memory"), ("none", "none"), ("redis://:pw@cache:6380/2", "redis"), ("sqlite:////x/s.db", "sqlite")],
)
def test_store_kinds(url: str, kind: str) -> None:
    assert load_settings(google_env(AUTH_STORE=url)).store.kind == kind


def test_store_url_may_come_from_a_file(tmp_path: Path) -> None:
    (tmp_path / "store").write_text("redis://:from-file@cache:6379/0\n")
    settings = load_settings(google_env(AUTH_STORE_FILE=str(tmp_path / "store")))
    assert settings.store.kind == "redis"
    assert settings.store.describe() == "redis cache:6379/0 (with password)"


def test_bad_store_url_is_one_problem_naming_the_forms_without_the_password() -> None:
    problem = one_problem(google_env(AUTH_STORE="postgres://user:hunter2@db/sessions"))
    assert problem.startswith("AUTH_STORE: Unknown session store type 'postgres'")
    assert "redis://[:password@]host:port/db" in problem
    assert "hunter2" not in problem


def test_idle_timeout_longer_than_max_age_is_refused() -> None:
    assert one_problem(google_env(AUTH_SESSION_TIMEOUT="9h", AUTH_SESSION_MAX_AGE="8h")) == (
        "AUTH_SESSION_TIMEOUT (9h) is the idle timeout and is longer than AUTH_SESSION_MAX_AGE (8h), "
        "the most a session can last: shorten AUTH_SESSION_TIMEOUT or raise AUTH_SESSION_MAX_AGE"
    )


def test_without_a_store_the_timeout_is_absolute_and_max_age_does_not_apply() -> None:
    settings = load_settings(google_env(AUTH_STORE="none", AUTH_SESSION_TIMEOUT="1d"))
    assert not settings.stateful
    assert settings.session_lifetime == 86400.0


@pytest.mark.parametrize("value", ["0", "10x", "401d"])
def test_max_age_must_be_a_duration(value: str) -> None:
    assert one_problem(google_env(AUTH_SESSION_MAX_AGE=value)).startswith("AUTH_SESSION_MAX_AGE")


@pytest.mark.parametrize(("value", "mode"), [(None, "provider"), ("provider", "provider"), ("LOCAL", "local")])
def test_provider_logout_mode(value: str | None, mode: str) -> None:
    env = google_env() if value is None else google_env(AUTH_GOOGLE_LOGOUT=value)
    assert load_settings(env).providers[0].logout == mode


def test_unknown_provider_logout_mode_is_a_problem() -> None:
    assert one_problem(google_env(AUTH_GOOGLE_LOGOUT="everywhere")) == (
        "AUTH_GOOGLE_LOGOUT must be provider (sign out at the provider too) or local (only in this app), "
        "got 'everywhere'"
    )


@pytest.mark.parametrize("value", ["10x", "-5", "ten", "10 minutes", "1h30m"])
def test_session_timeout_not_a_duration(value: str) -> None:
    assert one_problem(google_env(AUTH_SESSION_TIMEOUT=value)) == (
        f"AUTH_SESSION_TIMEOUT: {value!r} is not a duration; use seconds (600) or a number with "
        "s, m, h or d (30s, 10m, 8h, 1d)"
    )


@pytest.mark.parametrize("value", ["0", "0.5", "500d", "401d"])
def test_session_timeout_out_of_range(value: str) -> None:
    assert one_problem(google_env(AUTH_SESSION_TIMEOUT=value)) == (
        f"AUTH_SESSION_TIMEOUT must be between 1s and 400d, got {value!r}"
    )


@pytest.mark.parametrize(("value", "seconds"), [("5", 5.0), ("0.5", 0.5), ("2m", 120.0), ("30s", 30.0)])
def test_http_timeout_valid(value: str, seconds: float) -> None:
    assert load_settings(google_env(AUTH_HTTP_TIMEOUT=value)).http_timeout == seconds


@pytest.mark.parametrize("value", ["0", "121", "3m", "soon", "-1"])
def test_http_timeout_invalid(value: str) -> None:
    assert one_problem(google_env(AUTH_HTTP_TIMEOUT=value)) == (
        f"AUTH_HTTP_TIMEOUT must be a duration between 0 and 120 seconds, got {value!r}"
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("true", True),
        ("TRUE", True),
        ("1", True),
        ("yes", True),
        ("on", True),
        ("false", False),
        ("0", False),
        ("no", False),
        ("Off", False),
    ],
)
def test_cookie_secure_parsing(value: str, expected: bool) -> None:
    assert load_settings(google_env(AUTH_COOKIE_SECURE=value)).cookie_secure is expected


def test_cookie_secure_invalid() -> None:
    assert one_problem(google_env(AUTH_COOKIE_SECURE="maybe")) == (
        "AUTH_COOKIE_SECURE must be true or false, got 'maybe'"
    )


@pytest.mark.parametrize(
    ("public_url", "secure"),
    [(None, False), ("http://localhost:8501", False), ("https://apps.example.com", True)],
)
def test_cookie_secure_default_from_public_url_scheme(public_url: str | None, secure: bool) -> None:
    assert load_settings(google_env(AUTH_PUBLIC_URL=public_url)).cookie_secure is secure


def test_cookie_secure_false_overrides_https_default() -> None:
    env = google_env(AUTH_PUBLIC_URL="https://apps.example.com", AUTH_COOKIE_SECURE="false")
    assert load_settings(env).cookie_secure is False


@pytest.mark.parametrize("name", ["bad name", "a;b", "a=b", "sess,ion", "naïve"])
def test_cookie_name_invalid_characters(name: str) -> None:
    assert one_problem(google_env(AUTH_COOKIE_NAME=name)) == (
        f"AUTH_COOKIE_NAME: {name!r} is not a valid cookie name (letters, digits, '-' and '_')"
    )


def test_cookie_name_custom() -> None:
    assert load_settings(google_env(AUTH_COOKIE_NAME="my-app_session")).cookie_name == "my-app_session"


HOST_PREFIX_PROBLEM = (
    "AUTH_COOKIE_NAME starts with __Host-, which needs AUTH_COOKIE_SECURE=true "
    "and an app served at the root path (no server.baseUrlPath)"
)


def test_host_prefix_accepted_when_secure_at_root() -> None:
    env = google_env(AUTH_COOKIE_NAME="__Host-session", AUTH_PUBLIC_URL="https://apps.example.com")
    assert load_settings(env).cookie_name == "__Host-session"


def test_host_prefix_needs_secure() -> None:
    assert one_problem(google_env(AUTH_COOKIE_NAME="__Host-session")) == HOST_PREFIX_PROBLEM


def test_host_prefix_needs_root_path() -> None:
    env = google_env(AUTH_COOKIE_NAME="__Host-session", AUTH_PUBLIC_URL="https://apps.example.com/app")
    assert one_problem(env, base_path="app") == HOST_PREFIX_PROBLEM


def test_secure_prefix_needs_secure() -> None:
    assert one_problem(google_env(AUTH_COOKIE_NAME="__Secure-session")) == (
        "AUTH_COOKIE_NAME starts with __Secure-, which needs AUTH_COOKIE_SECURE=true"
    )


def test_secure_prefix_accepted_with_explicit_secure() -> None:
    env = google_env(AUTH_COOKIE_NAME="__Secure-session", AUTH_COOKIE_SECURE="true")
    settings = load_settings(env)
    assert (settings.cookie_name, settings.cookie_secure) == ("__Secure-session", True)


@pytest.mark.parametrize(("value", "level"), [("debug", "DEBUG"), ("Warning", "WARNING"), ("ERROR", "ERROR")])
def test_log_level_valid(value: str, level: str) -> None:
    assert load_settings(google_env(AUTH_LOG_LEVEL=value)).log_level == level


def test_log_level_invalid() -> None:
    assert one_problem(google_env(AUTH_LOG_LEVEL="verbose")) == (
        "AUTH_LOG_LEVEL must be one of DEBUG, INFO, WARNING, ERROR, got 'VERBOSE'"
    )


# --- all problems at once -----------------------------------------------------------


def test_all_problems_reported_at_once_in_order() -> None:
    env = google_env(
        AUTH_GOOGLE_CLIENT_ID=None,
        AUTH_PUBLIC_URL="apps.example.com",
        AUTH_COOKIE_SECRET="Zq7-short-secret",
        AUTH_SESSION_TIMEOUT="10x",
    )
    problems = problems_of(env)
    assert problems == (
        "AUTH_GOOGLE_CLIENT_ID is required (the client id registered at the provider)",
        "AUTH_PUBLIC_URL must be an absolute http(s) URL such as https://apps.example.com, got 'apps.example.com'",
        "AUTH_COOKIE_SECRET: secret #1 is 16 characters long; each secret needs at least 32 "
        f"(generate one with: {HINT})",
        "AUTH_SESSION_TIMEOUT: '10x' is not a duration; use seconds (600) or a number with "
        "s, m, h or d (30s, 10m, 8h, 1d)",
    )
    with pytest.raises(ConfigurationError) as caught:
        load_settings(env)
    assert str(caught.value).startswith("Invalid sign-in configuration (4 problems):\n  - AUTH_GOOGLE_CLIENT_ID")
    assert str(caught.value).endswith(
        "Set these in the environment or in .env; every setting is described in .env.example, "
        "which `python -m auth init --example` writes."
    )


def test_single_problem_wording() -> None:
    with pytest.raises(ConfigurationError) as caught:
        load_settings(google_env(AUTH_LOG_LEVEL="loud"))
    assert str(caught.value).startswith("Invalid sign-in configuration (1 problem):\n")


def test_client_secret_never_in_error_text_with_many_problems() -> None:
    env = corp_env(
        AUTH_CORP_ISSUER="http://login.corp.example", AUTH_CORP_KIND="bogus", AUTH_COOKIE_SECRET="Qq1-tiny-secret"
    )
    problems = problems_of(env)
    assert len(problems) == 3


# --- <VAR>_FILE secrets -------------------------------------------------------------


def test_cookie_secret_from_file(tmp_path: Path) -> None:
    path = tmp_path / "cookie_secret"
    path.write_text(COOKIE_SECRET + "\n", encoding="utf-8")
    settings = load_settings(google_env(AUTH_COOKIE_SECRET=None, AUTH_COOKIE_SECRET_FILE=str(path)))
    assert settings.cookie_secrets == (Secret(COOKIE_SECRET),)
    assert settings.warnings == ()


def test_client_secret_from_file(tmp_path: Path) -> None:
    path = tmp_path / "google_secret"
    path.write_text(GOOGLE_SECRET + "\n", encoding="utf-8")
    env = google_env(AUTH_GOOGLE_CLIENT_SECRET=None, AUTH_GOOGLE_CLIENT_SECRET_FILE=str(path))
    settings = load_settings(env)
    assert settings.providers[0].client_secret.value == GOOGLE_SECRET
    assert settings.warnings == ()


def test_cookie_secret_and_file_both_set(tmp_path: Path) -> None:
    path = tmp_path / "cookie_secret"
    path.write_text(COOKIE_SECRET, encoding="utf-8")
    assert one_problem(google_env(AUTH_COOKIE_SECRET_FILE=str(path))) == (
        "AUTH_COOKIE_SECRET and AUTH_COOKIE_SECRET_FILE are both set; set only one of them"
    )


def test_client_secret_and_file_both_set(tmp_path: Path) -> None:
    path = tmp_path / "google_secret"
    path.write_text(GOOGLE_SECRET, encoding="utf-8")
    assert one_problem(google_env(AUTH_GOOGLE_CLIENT_SECRET_FILE=str(path))) == (
        "AUTH_GOOGLE_CLIENT_SECRET and AUTH_GOOGLE_CLIENT_SECRET_FILE are both set; set only one of them"
    )


@pytest.mark.parametrize("variable", ["AUTH_COOKIE_SECRET", "AUTH_GOOGLE_CLIENT_SECRET"])
def test_secret_file_unreadable_names_the_file(tmp_path: Path, variable: str) -> None:
    missing = str(tmp_path / "does-not-exist")
    env = google_env(**{variable: None, f"{variable}_FILE": missing})
    assert one_problem(env) == f"{variable}_FILE: cannot read {missing!r} (No such file or directory)"


@pytest.mark.parametrize("content", ["", "\n", "  \n\n"])
@pytest.mark.parametrize("variable", ["AUTH_COOKIE_SECRET", "AUTH_GOOGLE_CLIENT_SECRET"])
def test_secret_file_empty(tmp_path: Path, variable: str, content: str) -> None:
    path = tmp_path / "empty"
    path.write_text(content, encoding="utf-8")
    env = google_env(**{variable: None, f"{variable}_FILE": str(path)})
    assert one_problem(env) == f"{variable}_FILE: {str(path)!r} is empty"


def test_short_secret_from_file_never_shows_value(tmp_path: Path) -> None:
    short = "Fz4-file-short"
    path = tmp_path / "cookie_secret"
    path.write_text(short + "\n", encoding="utf-8")
    with pytest.raises(ConfigurationError) as caught:
        load_settings(google_env(AUTH_COOKIE_SECRET=None, AUTH_COOKIE_SECRET_FILE=str(path)))
    assert caught.value.problems == (
        "AUTH_COOKIE_SECRET: secret #1 is 14 characters long; each secret needs at least 32 "
        f"(generate one with: {HINT})",
    )
    assert short not in str(caught.value)


# --- presets -------------------------------------------------------------------------


def test_google_preset() -> None:
    provider = load_settings(google_env()).providers[0]
    assert provider.kind == "google"
    assert provider.issuer == "https://accounts.google.com"
    assert provider.accepted_issuers == ("https://accounts.google.com", "accounts.google.com")
    assert provider.discovery_url == "https://accounts.google.com/.well-known/openid-configuration"
    assert provider.client_id == "google-client-id"
    assert provider.client_secret == Secret(GOOGLE_SECRET)
    assert provider.label == "Google"
    assert provider.prompt == "select_account"
    assert provider.hosted_domains == ()
    assert provider.authorization_params() == {"prompt": "select_account"}


@pytest.mark.parametrize("value", ["off", "OFF", "-"])
def test_google_prompt_off(value: str) -> None:
    provider = load_settings(google_env(AUTH_GOOGLE_PROMPT=value)).providers[0]
    assert provider.prompt is None
    assert provider.authorization_params() == {}


def test_google_prompt_override() -> None:
    assert load_settings(google_env(AUTH_GOOGLE_PROMPT="consent")).providers[0].prompt == "consent"


def test_google_one_hosted_domain() -> None:
    provider = load_settings(google_env(AUTH_GOOGLE_HOSTED_DOMAIN=" Example.COM ")).providers[0]
    assert provider.hosted_domains == ("example.com",)
    assert provider.authorization_params() == {"prompt": "select_account", "hd": "example.com"}


def test_google_several_hosted_domains() -> None:
    provider = load_settings(google_env(AUTH_GOOGLE_HOSTED_DOMAIN="example.com, Example.org,")).providers[0]
    assert provider.hosted_domains == ("example.com", "example.org")
    assert provider.authorization_params()["hd"] == "*"


KEYCLOAK = {
    "AUTH_PROVIDERS": "keycloak",
    "AUTH_KEYCLOAK_CLIENT_ID": "app",
    "AUTH_KEYCLOAK_CLIENT_SECRET": CORP_SECRET,
    "AUTH_COOKIE_SECRET": COOKIE_SECRET,
}


@pytest.mark.parametrize("url", ["https://sso.example.com", "https://sso.example.com/"])
def test_keycloak_url_and_realm(url: str) -> None:
    provider = load_settings({**KEYCLOAK, "AUTH_KEYCLOAK_URL": url, "AUTH_KEYCLOAK_REALM": "staff"}).providers[0]
    assert provider.kind == "keycloak"
    assert provider.issuer == "https://sso.example.com/realms/staff"
    assert provider.accepted_issuers == ("https://sso.example.com/realms/staff",)
    assert provider.discovery_url == "https://sso.example.com/realms/staff/.well-known/openid-configuration"
    assert provider.label == "Keycloak"
    assert provider.prompt is None


def test_keycloak_issuer_alone() -> None:
    provider = load_settings({**KEYCLOAK, "AUTH_KEYCLOAK_ISSUER": "https://sso.example.com/realms/x"}).providers[0]
    assert provider.issuer == "https://sso.example.com/realms/x"


@pytest.mark.parametrize(
    "extra",
    [
        {"AUTH_KEYCLOAK_URL": "https://sso.example.com"},
        {"AUTH_KEYCLOAK_REALM": "staff"},
        {"AUTH_KEYCLOAK_URL": "https://sso.example.com", "AUTH_KEYCLOAK_REALM": "staff"},
    ],
)
def test_keycloak_issuer_plus_url_or_realm(extra: dict[str, str]) -> None:
    env = {**KEYCLOAK, "AUTH_KEYCLOAK_ISSUER": "https://sso.example.com/realms/x", **extra}
    assert one_problem(env) == (
        "set either AUTH_KEYCLOAK_ISSUER or AUTH_KEYCLOAK_URL + AUTH_KEYCLOAK_REALM for Keycloak, not both"
    )


@pytest.mark.parametrize(
    "extra", [{"AUTH_KEYCLOAK_URL": "https://sso.example.com"}, {"AUTH_KEYCLOAK_REALM": "staff"}, {}]
)
def test_keycloak_url_without_realm(extra: dict[str, str]) -> None:
    assert one_problem({**KEYCLOAK, **extra}) == (
        "AUTH_KEYCLOAK_URL and AUTH_KEYCLOAK_REALM are required for Keycloak (issuer "
        "<url>/realms/<realm>), or set AUTH_KEYCLOAK_ISSUER"
    )


def test_discovery_url_default_and_override() -> None:
    assert load_settings(corp_env()).providers[0].discovery_url == (
        "https://login.corp.example/.well-known/openid-configuration"
    )
    override = "https://login.corp.example/tenant/v2.0/.well-known/openid-configuration"
    assert load_settings(corp_env(AUTH_CORP_DISCOVERY_URL=override)).providers[0].discovery_url == override


@pytest.mark.parametrize(("name", "label"), [("corp", "Corp"), ("corp_sso", "Corp Sso"), ("okta", "Okta")])
def test_label_defaults_to_title_cased_name(name: str, label: str) -> None:
    prefix = f"AUTH_{name.upper()}_"
    env = {
        "AUTH_PROVIDERS": name,
        f"{prefix}ISSUER": "https://login.corp.example",
        f"{prefix}CLIENT_ID": "id",
        f"{prefix}CLIENT_SECRET": CORP_SECRET,
        "AUTH_COOKIE_SECRET": COOKIE_SECRET,
    }
    provider = load_settings(env).providers[0]
    assert (provider.kind, provider.label) == ("oidc", label)


def test_label_and_icon_override() -> None:
    provider = load_settings(google_env(AUTH_GOOGLE_LABEL="Work account", AUTH_GOOGLE_ICON="🏢")).providers[0]
    assert (provider.label, provider.icon) == ("Work account", "🏢")


def test_keycloak_kind_on_provider_named_corp() -> None:
    env = {
        "AUTH_PROVIDERS": "corp",
        "AUTH_CORP_KIND": "Keycloak",
        "AUTH_CORP_URL": "https://sso.corp.example/",
        "AUTH_CORP_REALM": "staff",
        "AUTH_CORP_CLIENT_ID": "app",
        "AUTH_CORP_CLIENT_SECRET": CORP_SECRET,
        "AUTH_COOKIE_SECRET": COOKIE_SECRET,
    }
    settings = load_settings(env)
    provider = settings.providers[0]
    assert (provider.name, provider.kind, provider.label) == ("corp", "keycloak", "Keycloak")
    assert provider.issuer == "https://sso.corp.example/realms/staff"
    assert settings.warnings == ()


def test_google_kind_on_provider_named_work() -> None:
    env = {
        "AUTH_PROVIDERS": "work",
        "AUTH_WORK_KIND": "google",
        "AUTH_WORK_CLIENT_ID": "id",
        "AUTH_WORK_CLIENT_SECRET": GOOGLE_SECRET,
        "AUTH_COOKIE_SECRET": COOKIE_SECRET,
    }
    provider = load_settings(env).providers[0]
    assert (provider.kind, provider.issuer, provider.prompt) == (
        "google",
        "https://accounts.google.com",
        "select_account",
    )
    assert provider.accepted_issuers == ("https://accounts.google.com", "accounts.google.com")


# --- unknown-setting warnings --------------------------------------------------------


def test_typo_warning_suggests_the_setting() -> None:
    settings = load_settings(google_env(AUTH_SESION_TIMEOUT="8h"))
    assert settings.warnings == (
        "AUTH_SESION_TIMEOUT is not a setting this app reads (did you mean AUTH_SESSION_TIMEOUT?)",
    )
    assert settings.session_timeout == 600.0


def test_setting_of_unconfigured_provider_is_ignored() -> None:
    settings = load_settings(google_env(AUTH_KEYCLOAK_URL="https://sso.example.com"))
    assert settings.warnings == ("AUTH_KEYCLOAK_URL is ignored: provider 'keycloak' is not in AUTH_PROVIDERS",)


def test_unrelated_variables_give_no_warning() -> None:
    assert load_settings(google_env(HOME="/root", STREAMLIT_SERVER_PORT="8501", AUTH_LOG_LEVEL="")).warnings == ()


# --- read_environment ----------------------------------------------------------------


def test_read_environment_real_environment_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text("AUTH_TEST_BOTH=from-dotenv\nAUTH_TEST_DOTENV_ONLY=dotenv-value\n", encoding="utf-8")
    monkeypatch.setenv("AUTH_TEST_BOTH", "from-environment")
    monkeypatch.delenv("AUTH_TEST_DOTENV_ONLY", raising=False)
    merged = read_environment(dotenv)
    assert merged["AUTH_TEST_BOTH"] == "from-environment"
    assert merged["AUTH_TEST_DOTENV_ONLY"] == "dotenv-value"


def test_read_environment_without_dotenv_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTH_TEST_BOTH", "from-environment")
    merged = read_environment(tmp_path / "missing.env")
    assert merged["AUTH_TEST_BOTH"] == "from-environment"
    assert read_environment(None)["AUTH_TEST_BOTH"] == "from-environment"


# --- Secret ----------------------------------------------------------------------------


def test_secret_hides_its_value() -> None:
    secret = Secret("hunter2-very-secret")
    for shown in (str(secret), repr(secret), f"{secret}", f"{secret!r}", "%s" % secret, str([secret])):  # noqa: UP031 - %-formatting is what this checks
        assert "hunter2" not in shown
    assert secret.value == "hunter2-very-secret"
    assert len(secret) == 19


def test_settings_never_show_secret_values() -> None:
    old = "Old-cookie-secret-value-0123456789abcdef"
    settings = load_settings(google_env(AUTH_COOKIE_SECRET=f"{COOKIE_SECRET},{old}"))
    for shown in (str(settings), repr(settings), f"{settings}", f"{settings!r}", repr(settings.providers[0])):
        for value in (COOKIE_SECRET, old, GOOGLE_SECRET):
            assert value not in shown
    assert "**********" in repr(settings)


def test_google_offline_access_asks_for_consent_and_a_refresh_token() -> None:
    provider = load_settings(google_env(AUTH_GOOGLE_ACCESS_TYPE="offline")).providers[0]
    assert provider.authorization_params() == {"access_type": "offline", "prompt": "select_account consent"}
    online = load_settings(google_env(AUTH_GOOGLE_ACCESS_TYPE="online")).providers[0]
    assert online.authorization_params() == {"prompt": "select_account"}


def test_access_type_is_google_only_and_online_or_offline() -> None:
    assert one_problem(google_env(AUTH_GOOGLE_ACCESS_TYPE="forever")) == (
        "AUTH_GOOGLE_ACCESS_TYPE must be online or offline, got 'forever'"
    )
    problem = one_problem(corp_env(AUTH_CORP_ACCESS_TYPE="offline"))
    assert problem.startswith("AUTH_CORP_ACCESS_TYPE applies only to Google providers")
