"""The docker/ stack hangs together: compose, Dockerfile, app.env, secrets, the realm and nginx.

No Docker engine is needed: the files are parsed and checked against each other and
against the app's own view of its settings (``auth.config.load_settings``), so the
callback and issuer registered in Keycloak are the ones the app will really use. The
"replicas" profile (two app replicas, Redis, an nginx load balancer) is checked the same
way: each replica's settings are loaded as the container would see them.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import tomllib
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from dotenv import dotenv_values

from auth.address import PublicAddress
from auth.config import DEFAULT_STORE, DEV_SECRET_MARKER, MIN_SECRET_LENGTH, Settings, load_settings
from auth.stores.factory import StoreSpec, parse_store_url
from auth.wiring import Auth
from scripts import keycloak_realm

ROOT = Path(__file__).resolve().parents[2]
DOCKER = ROOT / "docker"
COMPOSE_FILE = DOCKER / "compose.yml"
APP_ENV_FILE = DOCKER / "app.env"
REALM_FILE = DOCKER / "keycloak" / "streamlit-realm.json"
DOCKERFILE = DOCKER / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
NGINX_CONF = DOCKER / "nginx" / "replicas.conf"
KEYCLOAK_SCRIPT = ROOT / "scripts" / "keycloak.sh"
LOCAL_KEYCLOAK_APP_ENV = ROOT / "scripts" / "keycloak-app.env"
NGINX_TARGET = PurePosixPath("/etc/nginx/conf.d/default.conf")

REPLICAS_PROFILE = "replicas"
REPLICAS = ("app-1", "app-2")
REDIS_PORT = 6379  # the port redis:7-alpine listens on
BACKCHANNEL_PATH = "/auth/backchannel-logout"

CLIENT_ID = "streamlit-app"
#: realm roles Keycloak creates in every realm (the realm's default roles)
KEYCLOAK_BUILT_IN_REALM_ROLES = {"offline_access", "uma_authorization"}
#: roles of the ``account`` client Keycloak creates in every realm (its account console's)
KEYCLOAK_BUILT_IN_CLIENT_ROLES = {
    "account": {
        "manage-account",
        "manage-account-links",
        "view-profile",
        "view-applications",
        "view-consent",
        "manage-consent",
        "view-groups",
        "delete-account",
    }
}
#: what the account console needs: without them its pages say "Something went wrong"
ACCOUNT_CONSOLE_ROLES = {"manage-account", "view-profile"}
IMPORT_DIR = PurePosixPath("/opt/keycloak/data/import")
SECRETS_DIR = PurePosixPath("/run/secrets")
# Hostname v1 options removed in Keycloak 25/26, and the admin variables 26 deprecated.
REMOVED_KEYCLOAK_ENV = {
    "KC_HOSTNAME_URL",
    "KC_HOSTNAME_ADMIN_URL",
    "KC_HOSTNAME_PORT",
    "KC_HOSTNAME_STRICT_BACKCHANNEL",
    "KC_HOSTNAME_STRICT_HTTPS",
    "KC_PROXY",
    "KEYCLOAK_ADMIN",
    "KEYCLOAK_ADMIN_PASSWORD",
}


# --------------------------------------------------------------------------- loading


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def keycloak(compose: dict[str, Any]) -> dict[str, Any]:
    return compose["services"]["keycloak"]


@pytest.fixture(scope="module")
def app(compose: dict[str, Any]) -> dict[str, Any]:
    return compose["services"]["app"]


@pytest.fixture(scope="module")
def keycloak_env(keycloak: dict[str, Any]) -> dict[str, Any]:
    return environment(keycloak)


@pytest.fixture(scope="module")
def app_env() -> dict[str, str]:
    return {key: value for key, value in dotenv_values(APP_ENV_FILE).items() if value is not None}


@pytest.fixture(scope="module")
def secret_files(compose: dict[str, Any], app: dict[str, Any]) -> dict[str, Path]:
    """Path inside the app container -> the local file compose mounts there."""
    return mounted_secrets(compose, app)


@pytest.fixture(scope="module")
def local_env(app_env: dict[str, str], secret_files: dict[str, Path]) -> dict[str, str]:
    """app.env as the container sees it, with /run/secrets/* swapped for the local files."""
    return {key: str(secret_files.get(value, value)) for key, value in app_env.items()}


@pytest.fixture(scope="module")
def settings(local_env: dict[str, str]) -> Settings:
    return load_settings(local_env)


@pytest.fixture(scope="module")
def realm() -> dict[str, Any]:
    with REALM_FILE.open(encoding="utf-8") as handle:
        return json.load(handle)


@pytest.fixture(scope="module")
def client(realm: dict[str, Any]) -> dict[str, Any]:
    matches = [c for c in realm["clients"] if c["clientId"] == CLIENT_ID]
    assert len(matches) == 1, f"exactly one client {CLIENT_ID!r} expected"
    return matches[0]


@pytest.fixture(scope="module")
def users(realm: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {user["username"]: user for user in realm["users"]}


@pytest.fixture(scope="module")
def dockerfile() -> list[tuple[str, str]]:
    return dockerfile_instructions(DOCKERFILE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def replicas(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    services = compose["services"]
    assert set(REPLICAS) <= set(services), "the replicas profile needs services app-1 and app-2"
    return {name: services[name] for name in REPLICAS}


@pytest.fixture(scope="module")
def replica_settings(compose: dict[str, Any], replicas: dict[str, dict[str, Any]]) -> dict[str, Settings]:
    """Each replica's settings as its container would load them (env_file, environment, secrets)."""
    return {name: load_settings(container_env(compose, service)) for name, service in replicas.items()}


@pytest.fixture(scope="module")
def redis(compose: dict[str, Any]) -> dict[str, Any]:
    return compose["services"]["redis"]


@pytest.fixture(scope="module")
def lb(compose: dict[str, Any]) -> dict[str, Any]:
    return compose["services"]["lb"]


@pytest.fixture(scope="module")
def nginx() -> list[Directive]:
    return parse_nginx(NGINX_CONF.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def proxied(nginx: list[Directive]) -> Directive:
    """The one ``location`` that proxies to the replicas."""
    locations = [d for d in find(nginx, "location") if find(d.block or [], "proxy_pass")]
    assert len(locations) == 1, "exactly one proxying location expected"
    return locations[0]


def environment(service: dict[str, Any]) -> dict[str, Any]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, None) for item in env)
    return env


def mounted_secrets(compose: dict[str, Any], service: dict[str, Any]) -> dict[str, Path]:
    """Path inside the service's container -> the local file compose mounts there."""
    declared = compose.get("secrets") or {}
    mounted: dict[str, Path] = {}
    for entry in service.get("secrets") or []:
        source = entry if isinstance(entry, str) else entry["source"]
        target = source if isinstance(entry, str) else entry.get("target", source)
        target_path = PurePosixPath(target) if target.startswith("/") else SECRETS_DIR / target
        mounted[str(target_path)] = (DOCKER / declared[source]["file"]).resolve()
    return mounted


def container_env(compose: dict[str, Any], service: dict[str, Any]) -> dict[str, str]:
    """The service's environment as compose builds it (env_file, then ``environment`` over it),
    with mounted secret paths swapped for the local files."""
    env_files = service.get("env_file") or []
    env: dict[str, str] = {}
    for name in [env_files] if isinstance(env_files, str) else env_files:
        env.update({k: v for k, v in dotenv_values(DOCKER / name).items() if v is not None})
    env.update({k: str(v) for k, v in environment(service).items() if v is not None})
    secrets = mounted_secrets(compose, service)
    return {key: str(secrets.get(value, value)) for key, value in env.items()}


def profiles(service: dict[str, Any]) -> list[str]:
    return list(service.get("profiles") or [])


def published_ports(service: dict[str, Any]) -> set[tuple[int, int]]:
    """(host port, container port) of short-syntax "host:container" or "ip:host:container" entries."""
    pairs = set()
    for entry in service.get("ports") or []:
        parts = str(entry).split("/")[0].rsplit(":", 2)
        assert len(parts) >= 2, f"{entry}: no host port"
        pairs.add((int(parts[-2]), int(parts[-1])))
    return pairs


def volume_mounts(service: dict[str, Any]) -> list[tuple[str, PurePosixPath, list[str]]]:
    """(source, target, options) of short-syntax volume entries."""
    mounts = []
    for volume in service.get("volumes") or []:
        source, target, *options = volume.split(":")
        mounts.append((source, PurePosixPath(target), options))
    return mounts


def url_port(url: str) -> int:
    parts = urlsplit(url)
    return parts.port or {"http": 80, "https": 443}[parts.scheme]


def command_args(service: dict[str, Any]) -> list[str]:
    command = service.get("command") or []
    return shlex.split(command) if isinstance(command, str) else [str(arg) for arg in command]


def healthcheck_text(service: dict[str, Any]) -> str:
    test = service["healthcheck"]["test"]
    return test if isinstance(test, str) else " ".join(str(part) for part in test)


def container_ports(service: dict[str, Any]) -> set[int]:
    """Container ports of short-syntax "host:container" or "ip:host:container" entries."""
    ports = set()
    for entry in service.get("ports") or []:
        text = str(entry["target"]) if isinstance(entry, dict) else str(entry)
        ports.add(int(text.rsplit(":", 1)[-1].split("/")[0]))
    return ports


def dockerfile_instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    logical, current = [], ""
    for line in text.splitlines():
        stripped = line.strip()
        if not current and (not stripped or stripped.startswith("#")):
            continue
        if stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        logical.append(current + stripped)
        current = ""
    pairs = []
    for line in logical:
        keyword, _, args = line.partition(" ")
        pairs.append((keyword.upper(), args.strip()))
    return pairs


@dataclass(frozen=True)
class Directive:
    """One nginx directive: ``name args...;`` or ``name args... { block }``."""

    name: str
    args: tuple[str, ...]
    block: list[Directive] | None = None


_NGINX_TOKEN = re.compile(r"\"[^\"]*\"|'[^']*'|[{};]|[^\s{};\"']+")
_NGINX_TIME = re.compile(r"(\d+)(ms|s|m|h|d|w|M|y)?")
_NGINX_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "M": 2592000, "y": 31536000}


def parse_nginx(text: str) -> list[Directive]:
    """nginx's configuration syntax: ``#`` comments, words and quoted strings, ``;`` and blocks."""
    tokens = _NGINX_TOKEN.findall(re.sub(r"#[^\n]*", "", text))
    stack: list[list[Directive]] = [[]]
    words: list[str] = []
    for token in tokens:
        if token == ";":
            assert words, "empty directive"
            stack[-1].append(Directive(words[0], tuple(words[1:])))
            words = []
        elif token == "{":
            assert words, "block without a directive"
            block: list[Directive] = []
            stack[-1].append(Directive(words[0], tuple(words[1:]), block))
            stack.append(block)
            words = []
        elif token == "}":
            assert len(stack) > 1 and not words, "unbalanced }"
            stack.pop()
        else:
            words.append(token[1:-1] if token[0] in "\"'" else token)
    assert len(stack) == 1 and not words, "unterminated block or directive"
    return stack[0]


def find(directives: list[Directive], name: str) -> list[Directive]:
    """Every directive called ``name``, at any depth."""
    found = []
    for directive in directives:
        if directive.name == name:
            found.append(directive)
        found.extend(find(directive.block or [], name))
    return found


def nginx_seconds(value: str) -> float:
    """An nginx time (``60``, ``90s``, ``1h30m``, ``1d``) in seconds."""
    parts = _NGINX_TIME.findall(value)
    assert parts and "".join(n + u for n, u in parts) == value, value
    return sum(int(number) * _NGINX_UNITS[unit or "s"] for number, unit in parts)


def proxy_headers(location: Directive) -> dict[str, str]:
    return {d.args[0].lower(): d.args[1] for d in location.block or [] if d.name == "proxy_set_header"}


def instructions(dockerfile: list[tuple[str, str]], keyword: str) -> list[str]:
    return [args for kw, args in dockerfile if kw == keyword]


def mapper(client: dict[str, Any], kind: str) -> dict[str, str]:
    matches = [m for m in client.get("protocolMappers", []) if m["protocolMapper"] == kind]
    assert len(matches) == 1, f"exactly one {kind} mapper expected on the client"
    return matches[0]["config"]


def effective_realm_roles(realm: dict[str, Any], user: dict[str, Any]) -> set[str]:
    groups = {f"/{group['name']}": group for group in realm.get("groups", [])}
    roles = set(user.get("realmRoles", []))
    for path in user.get("groups", []):
        roles |= set(groups[path].get("realmRoles", []))
    return roles


# --------------------------------------------------------------------------- keycloak service


def test_keycloak_image_is_pinned_to_an_exact_26_patch_release(keycloak: dict[str, Any]) -> None:
    assert re.fullmatch(r"quay\.io/keycloak/keycloak:26\.\d+\.\d+", keycloak["image"]), keycloak["image"]


def test_keycloak_starts_in_dev_mode_and_imports_the_realm(keycloak: dict[str, Any]) -> None:
    args = command_args(keycloak)
    assert args[:1] == ["start-dev"]
    assert "--import-realm" in args


def test_keycloak_bootstraps_an_admin_with_the_26_variables(keycloak_env: dict[str, Any]) -> None:
    assert keycloak_env.get("KC_BOOTSTRAP_ADMIN_USERNAME")
    assert keycloak_env.get("KC_BOOTSTRAP_ADMIN_PASSWORD")


def test_keycloak_uses_no_removed_or_deprecated_options(keycloak: dict[str, Any], keycloak_env: dict[str, Any]) -> None:
    assert not REMOVED_KEYCLOAK_ENV & set(keycloak_env)
    removed_flags = {
        "--hostname-url",
        "--hostname-admin-url",
        "--hostname-port",
        "--proxy",
        "--hostname-strict-backchannel",
        "--hostname-strict-https",
    }
    assert not {arg.split("=", 1)[0] for arg in command_args(keycloak)} & removed_flags


def test_keycloak_hostname_is_a_full_url_with_dynamic_backchannel(keycloak_env: dict[str, Any]) -> None:
    hostname = urlsplit(str(keycloak_env["KC_HOSTNAME"]))
    assert hostname.scheme in {"http", "https"} and hostname.netloc
    assert hostname.path in {"", "/"}
    # A quoted string: a YAML boolean would rely on compose converting it.
    assert keycloak_env["KC_HOSTNAME_BACKCHANNEL_DYNAMIC"] == "true"


def test_keycloak_healthcheck_probes_readiness_on_the_management_port_without_curl(
    keycloak: dict[str, Any], keycloak_env: dict[str, Any]
) -> None:
    assert keycloak_env["KC_HEALTH_ENABLED"] == "true"
    probe = healthcheck_text(keycloak)
    assert re.search(r"/dev/tcp/(localhost|127\.0\.0\.1)/9000\b", probe), probe
    assert "HEAD /health/ready" in probe and "200" in probe
    assert "curl" not in probe and "wget" not in probe
    for key in ("interval", "timeout", "retries", "start_period"):
        assert key in keycloak["healthcheck"], key


def test_keycloak_publishes_only_the_http_port(keycloak: dict[str, Any]) -> None:
    assert container_ports(keycloak) == {8080}


def test_realm_file_is_mounted_read_only_into_the_import_directory(
    keycloak: dict[str, Any], realm: dict[str, Any]
) -> None:
    mounts = []
    for volume in keycloak.get("volumes") or []:
        source, target, *options = volume.split(":")
        if PurePosixPath(target).parent == IMPORT_DIR:
            mounts.append((source, PurePosixPath(target), options))
    assert len(mounts) == 1, keycloak.get("volumes")
    source, target, options = mounts[0]
    assert (DOCKER / source).resolve() == REALM_FILE.resolve()
    # The import guide's naming rule: <realm name>-realm.json.
    assert target.name == f"{realm['realm']}-realm.json"
    assert "ro" in options


# --------------------------------------------------------------------------- app service


def test_app_is_built_from_the_repository_root_with_the_docker_dockerfile(app: dict[str, Any]) -> None:
    context = (DOCKER / app["build"]["context"]).resolve()
    assert context == ROOT.resolve()
    assert (context / app["build"]["dockerfile"]).resolve() == DOCKERFILE.resolve()


def test_app_waits_for_a_healthy_keycloak(app: dict[str, Any]) -> None:
    assert app["depends_on"]["keycloak"]["condition"] == "service_healthy"


def test_app_reads_app_env_and_publishes_streamlit(app: dict[str, Any]) -> None:
    env_files = app["env_file"] if isinstance(app["env_file"], list) else [app["env_file"]]
    assert [(DOCKER / name).resolve() for name in env_files] == [APP_ENV_FILE.resolve()]
    assert container_ports(app) == {8501}


def test_every_secret_file_setting_points_at_a_mounted_compose_secret(
    app_env: dict[str, str], secret_files: dict[str, Path]
) -> None:
    file_settings = {key: value for key, value in app_env.items() if key.endswith("_FILE")}
    assert {"AUTH_KEYCLOAK_CLIENT_SECRET_FILE", "AUTH_COOKIE_SECRET_FILE"} <= set(file_settings)
    for key, path in file_settings.items():
        assert path in secret_files, f"{key}={path} is not a secret mounted into the app"
        assert secret_files[path].is_file(), secret_files[path]


def test_no_secret_values_sit_in_app_env(app_env: dict[str, str]) -> None:
    assert "AUTH_COOKIE_SECRET" not in app_env
    assert "AUTH_KEYCLOAK_CLIENT_SECRET" not in app_env


def test_every_app_env_setting_has_a_comment_above_it() -> None:
    lines = APP_ENV_FILE.read_text(encoding="utf-8").splitlines()
    for index, line in enumerate(lines):
        if line.strip() and not line.lstrip().startswith("#"):
            assert index > 0 and lines[index - 1].lstrip().startswith("#"), line


def test_dev_secrets_carry_the_marker_and_the_cookie_secret_is_long_enough(
    app_env: dict[str, str], secret_files: dict[str, Path]
) -> None:
    for key in ("AUTH_KEYCLOAK_CLIENT_SECRET_FILE", "AUTH_COOKIE_SECRET_FILE"):
        assert DEV_SECRET_MARKER in secret_files[app_env[key]].read_text(encoding="utf-8")
    cookie = secret_files[app_env["AUTH_COOKIE_SECRET_FILE"]].read_text(encoding="utf-8").strip()
    assert len(cookie) >= MIN_SECRET_LENGTH


def test_app_env_loads_cleanly_with_the_mounted_secrets(settings: Settings) -> None:
    assert [provider.name for provider in settings.providers] == ["keycloak"]
    assert settings.warnings == ()


# --------------------------------------------------------------------------- app <-> keycloak


def test_issuer_the_app_expects_is_the_one_keycloak_announces(
    settings: Settings, keycloak_env: dict[str, Any], realm: dict[str, Any]
) -> None:
    expected = f"{str(keycloak_env['KC_HOSTNAME']).rstrip('/')}/realms/{realm['realm']}"
    assert settings.providers[0].issuer == expected


def test_discovery_is_fetched_from_the_keycloak_service_inside_the_network(
    settings: Settings, compose: dict[str, Any], realm: dict[str, Any]
) -> None:
    discovery = urlsplit(settings.providers[0].discovery_url)
    assert discovery.hostname == "keycloak" and discovery.hostname in compose["services"]
    assert discovery.port in container_ports(compose["services"]["keycloak"])
    assert discovery.path == f"/realms/{realm['realm']}/.well-known/openid-configuration"


def test_client_id_matches_the_realm_client(settings: Settings, client: dict[str, Any]) -> None:
    assert settings.providers[0].client_id == client["clientId"]


def test_client_secret_equals_the_mounted_secret_file(
    client: dict[str, Any], app_env: dict[str, str], secret_files: dict[str, Path], settings: Settings
) -> None:
    secret_file = secret_files[app_env["AUTH_KEYCLOAK_CLIENT_SECRET_FILE"]]
    assert client["secret"] == secret_file.read_text(encoding="utf-8").strip()
    assert client["secret"] == settings.providers[0].client_secret.value


def test_redirect_uris_are_exactly_the_apps_callback(settings: Settings, client: dict[str, Any]) -> None:
    assert client["redirectUris"] == [settings.redirect_uri("keycloak")]
    assert settings.redirect_uri("keycloak").endswith("/auth/callback/keycloak")
    assert client["webOrigins"] == [settings.public_url]


def test_post_logout_redirect_is_exact_and_on_the_app(settings: Settings, client: dict[str, Any]) -> None:
    uris = client["attributes"]["post.logout.redirect.uris"].split("##")
    for uri in uris:
        assert "*" not in uri and uri != "+", uri
        assert uri == settings.public_url or uri.startswith(settings.public_url + "/"), uri


def test_backchannel_logout_targets_the_app_service(client: dict[str, Any], compose: dict[str, Any]) -> None:
    attributes = client["attributes"]
    url = urlsplit(attributes["backchannel.logout.url"])
    assert url.hostname == "app" and url.hostname in compose["services"]
    assert url.port in container_ports(compose["services"]["app"])
    assert url.path == "/auth/backchannel-logout"
    assert attributes["backchannel.logout.session.required"] == "true"
    assert attributes["backchannel.logout.revoke.offline.tokens"] == "false"
    assert client["frontchannelLogout"] is False


# --------------------------------------------------------------------------- keycloak without docker


def test_keycloak_without_docker_runs_the_version_of_the_image(keycloak: dict[str, Any]) -> None:
    """scripts/keycloak.sh pins the distribution in one place; compose pins the image: one version."""
    result = subprocess.run(
        ["bash", str(KEYCLOAK_SCRIPT), "--print-version"], capture_output=True, text=True, timeout=30, check=True
    )
    image_tag = keycloak["image"].rpartition(":")[2]
    assert result.stdout.strip() == image_tag


def test_keycloak_without_docker_imports_the_realm_file_compose_mounts(keycloak: dict[str, Any]) -> None:
    (source,) = [v.split(":")[0] for v in keycloak["volumes"] if IMPORT_DIR.as_posix() in v]
    assert (DOCKER / source).resolve() == keycloak_realm.REALM_FILE.resolve()
    # The realm file names the app as compose runs it; scripts/keycloak_realm.py moves exactly those.
    assert keycloak_realm.BACKCHANNEL_APP_URL == "http://app:8501"


def test_local_keycloak_app_env_matches_the_docker_apps_settings(
    app_env: dict[str, str], settings: Settings, client: dict[str, Any], secret_files: dict[str, Path]
) -> None:
    """scripts/keycloak-app.env (scripts/run.sh --keycloak) is app.env without the container network."""
    local = {key: value for key, value in dotenv_values(LOCAL_KEYCLOAK_APP_ENV).items() if value is not None}
    for key in ("AUTH_PROVIDERS", "AUTH_KEYCLOAK_REALM", "AUTH_KEYCLOAK_CLIENT_ID", "AUTH_PUBLIC_URL"):
        assert local[key] == app_env[key], key
    assert local["AUTH_KEYCLOAK_LOGOUT"] == app_env["AUTH_KEYCLOAK_LOGOUT"] == "provider"
    # The same development secrets compose mounts, read from the repository.
    for key in ("AUTH_KEYCLOAK_CLIENT_SECRET_FILE", "AUTH_COOKIE_SECRET_FILE"):
        assert (ROOT / local[key]).resolve() == secret_files[app_env[key]].resolve(), key
    # No container names: discovery comes from the issuer on localhost, and http is loopback-only.
    assert "AUTH_KEYCLOAK_DISCOVERY_URL" not in local and "AUTH_INSECURE_PROVIDER_HOSTS" not in local
    local_settings = load_settings({**local, **{k: str(ROOT / local[k]) for k in local if k.endswith("_FILE")}})
    (provider,) = local_settings.providers
    assert provider.issuer == settings.providers[0].issuer == "http://localhost:8080/realms/streamlit"
    assert client["redirectUris"] == [local_settings.redirect_uri("keycloak")]
    assert provider.client_secret.value == client["secret"]


def test_every_local_keycloak_app_env_setting_has_a_comment_above_it() -> None:
    lines = LOCAL_KEYCLOAK_APP_ENV.read_text(encoding="utf-8").splitlines()
    for index, line in enumerate(lines):
        if line.strip() and not line.lstrip().startswith("#"):
            assert index > 0 and lines[index - 1].lstrip().startswith("#"), line


# --------------------------------------------------------------------------- realm


def test_client_is_confidential_with_pkce_and_code_flow_only(client: dict[str, Any]) -> None:
    assert client["publicClient"] is False  # explicit: omitted means public
    assert client["clientAuthenticatorType"] == "client-secret"
    assert client["standardFlowEnabled"] is True
    assert client["implicitFlowEnabled"] is False
    assert client["directAccessGrantsEnabled"] is False
    assert client["attributes"]["pkce.code.challenge.method"] == "S256"


def test_realm_keeps_keycloaks_default_client_scopes(realm: dict[str, Any], client: dict[str, Any]) -> None:
    # A realm "clientScopes" array stops Keycloak creating profile/email/roles/basic...
    assert "clientScopes" not in realm
    # ...and a client list replaces the defaults; without "basic" tokens lose "sub".
    if "defaultClientScopes" in client:
        assert "basic" in client["defaultClientScopes"]


def test_realm_settings(realm: dict[str, Any]) -> None:
    assert realm["realm"] == "streamlit" and realm["enabled"] is True
    assert realm["sslRequired"] == "external"
    assert realm["registrationAllowed"] is False
    assert realm["accessTokenLifespan"] == 300
    assert realm["ssoSessionIdleTimeout"] == 1800
    assert realm["ssoSessionMaxLifespan"] == 36000


def test_realm_rotates_refresh_tokens_strictly(realm: dict[str, Any]) -> None:
    """ "Revoke Refresh Token" with no reuse: a refresh token spent twice revokes the grant,
    so the local stack shows at once if the app's refresh is not single-flight."""
    assert realm["revokeRefreshToken"] is True
    assert realm["refreshTokenMaxReuse"] == 0


def test_group_mapper_emits_plain_group_names_in_the_id_token(client: dict[str, Any]) -> None:
    config = mapper(client, "oidc-group-membership-mapper")
    assert config["claim.name"] == "groups"
    assert config["full.path"] == "false"
    for claim in ("id.token.claim", "access.token.claim", "userinfo.token.claim", "introspection.token.claim"):
        assert config[claim] == "true", claim


def test_role_mappers_put_roles_in_the_id_token_and_userinfo(client: dict[str, Any]) -> None:
    realm_roles = mapper(client, "oidc-usermodel-realm-role-mapper")
    assert realm_roles["claim.name"] == "realm_access.roles"
    client_roles = mapper(client, "oidc-usermodel-client-role-mapper")
    assert client_roles["usermodel.clientRoleMapping.clientId"] == CLIENT_ID
    assert client_roles["claim.name"] == f"resource_access.{CLIENT_ID}.roles"
    for config in (realm_roles, client_roles):
        assert config["multivalued"] == "true"
        assert config["id.token.claim"] == "true"
        assert config["userinfo.token.claim"] == "true"


def test_roles_and_groups_referenced_anywhere_exist(realm: dict[str, Any]) -> None:
    realm_roles = {role["name"] for role in realm["roles"]["realm"]} | KEYCLOAK_BUILT_IN_REALM_ROLES
    client_roles = {
        client: {role["name"] for role in roles} for client, roles in realm["roles"].get("client", {}).items()
    }
    assert not set(client_roles) & set(KEYCLOAK_BUILT_IN_CLIENT_ROLES)
    client_roles.update(KEYCLOAK_BUILT_IN_CLIENT_ROLES)
    client_ids = {client["clientId"] for client in realm["clients"]}
    assert set(client_roles) <= client_ids | set(KEYCLOAK_BUILT_IN_CLIENT_ROLES)
    group_paths = {f"/{group['name']}" for group in realm.get("groups", [])}
    for holder in [*realm.get("groups", []), *realm["users"]]:
        label = holder.get("username") or holder["name"]
        assert set(holder.get("realmRoles", [])) <= realm_roles, label
        for client, roles in holder.get("clientRoles", {}).items():
            assert set(roles) <= client_roles.get(client, set()), label
        assert set(holder.get("groups", [])) <= group_paths, label
    assert {"admin", "user"} <= realm_roles
    assert {"editor", "viewer"} <= client_roles[CLIENT_ID]


def test_demo_users_can_sign_in_without_extra_steps(users: dict[str, dict[str, Any]]) -> None:
    assert {"alice", "bob", "carol"} <= set(users)
    for name, user in users.items():
        assert user["enabled"] is True, name
        assert user["emailVerified"] is True, name
        for field in ("email", "firstName", "lastName"):
            assert user.get(field), f"{name}: {field}"
        passwords = [c for c in user.get("credentials", []) if c["type"] == "password"]
        assert len(passwords) == 1 and passwords[0]["value"], name
        assert passwords[0]["temporary"] is False, name
        # Imported users get no default roles: each must list its own, offline_access included, or
        # AUTH_KEYCLOAK_SCOPES with offline_access makes Keycloak refuse the code ("not_allowed").
        assert user.get("realmRoles"), name
        assert "offline_access" in user["realmRoles"], name
        # Nor the account console's roles (the default role's): without them Keycloak's account
        # page fails for every demo user, and with it signing out there (tests/keycloak).
        assert set(user.get("clientRoles", {}).get("account", [])) >= ACCOUNT_CONSOLE_ROLES, name


def test_alice_is_an_admin_and_bob_and_carol_are_not(realm: dict[str, Any], users: dict[str, dict[str, Any]]) -> None:
    assert {"admin", "user"} <= effective_realm_roles(realm, users["alice"])
    assert "/admins" in users["alice"]["groups"]
    for name in ("bob", "carol"):
        roles = effective_realm_roles(realm, users[name])
        assert "user" in roles and "admin" not in roles, name
    assert users["alice"]["email"].endswith("@example.com")
    assert users["bob"]["email"].endswith("@example.com")
    assert not users["carol"]["email"].endswith("@example.com")


# --------------------------------------------------------------------------- Dockerfile


def test_dockerfile_uses_a_slim_python_with_a_pinned_minor(dockerfile: list[tuple[str, str]]) -> None:
    bases = instructions(dockerfile, "FROM")
    assert len(bases) == 1 and re.fullmatch(r"python:3\.\d+-slim(-\w+)?", bases[0]), bases


def test_dockerfile_runs_as_a_non_root_user(dockerfile: list[tuple[str, str]]) -> None:
    users = instructions(dockerfile, "USER")
    assert users, "no USER instruction"
    user = users[-1].split(":")[0]
    assert user not in {"root", "0"}
    # USER comes after every RUN, so nothing later needs root.
    keywords = [kw for kw, _ in dockerfile]
    assert max(i for i, kw in enumerate(keywords) if kw == "RUN") < max(
        i for i, kw in enumerate(keywords) if kw == "USER"
    )


def test_dockerfile_installs_the_package_without_a_pip_cache(dockerfile: list[tuple[str, str]]) -> None:
    assert any("pip install --no-cache-dir ." in run for run in instructions(dockerfile, "RUN"))
    env = " ".join(instructions(dockerfile, "ENV"))
    assert "PYTHONDONTWRITEBYTECODE=1" in env and "PYTHONUNBUFFERED=1" in env


def test_dockerfile_healthcheck_asks_streamlit_without_curl(dockerfile: list[tuple[str, str]]) -> None:
    checks = instructions(dockerfile, "HEALTHCHECK")
    assert len(checks) == 1
    check = checks[0]
    assert "http://127.0.0.1:8501/_stcore/health" in check
    # The probe's own timeout, not just HEALTHCHECK's --timeout option.
    assert re.search(r"urllib\.request\.urlopen\([^)]*timeout=\d", check), check
    assert "curl" not in check and "wget" not in check


def test_dockerfile_serves_streamlit_on_8501(dockerfile: list[tuple[str, str]]) -> None:
    assert instructions(dockerfile, "EXPOSE") == ["8501"]
    cmd = json.loads(instructions(dockerfile, "CMD")[-1])
    assert cmd == [
        "streamlit",
        "run",
        "app.py",
        "--server.address=0.0.0.0",
        "--server.port=8501",
        "--server.headless=true",
    ]


def test_dockerignore_drops_local_state_but_keeps_what_the_image_copies(
    dockerfile: list[tuple[str, str]],
) -> None:
    patterns = {
        line.strip().rstrip("/")
        for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert {".git", ".venv", "tests", ".env", "docker/secrets", ".cache"} <= patterns
    assert any("__pycache__" in pattern for pattern in patterns)
    copied = {
        source.rstrip("/")
        for args in instructions(dockerfile, "COPY")
        for source in args.split()[:-1]
        if not source.startswith("--")
    }
    assert {"pyproject.toml", "auth", "app.py", ".streamlit", "demo"} <= copied
    assert not copied & patterns and "*" not in patterns


def test_the_image_has_the_demos_streamlit_settings_beside_app_py(dockerfile: list[tuple[str, str]]) -> None:
    """Streamlit reads ``.streamlit/config.toml`` beside the main script: the image's /app,
    like the repository root, so its login page has no "Deploy" button either."""
    settings = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text(encoding="utf-8"))
    copies = [args.split() for args in instructions(dockerfile, "COPY")]

    assert settings["client"]["toolbarMode"] == "minimal"
    assert [".streamlit/", "./.streamlit/"] in copies
    assert ["app.py", "./"] in copies


# --------------------------------------------------------------------------- session store and logout


def test_single_app_keeps_sessions_in_sqlite_on_a_named_volume(
    settings: Settings, app: dict[str, Any], compose: dict[str, Any]
) -> None:
    assert settings.store.kind == "sqlite" and settings.store.path is not None
    store_dir = PurePosixPath(settings.store.path).parent
    assert store_dir.is_absolute(), "a relative path would land in /app, which the app user cannot write"
    named = [(source, options) for source, target, options in volume_mounts(app) if target == store_dir]
    assert len(named) == 1, f"no volume mounted at {store_dir}"
    source, options = named[0]
    # A named volume (declared below), not a bind mount of a host directory.
    assert "/" not in source and source in (compose.get("volumes") or {}), source
    assert "ro" not in options


def test_image_creates_the_store_directories_for_its_unprivileged_user(
    dockerfile: list[tuple[str, str]], settings: Settings
) -> None:
    """A named volume copies the image directory's owner; a directory Docker creates is root's."""
    uid = instructions(dockerfile, "USER")[-1].split(":")[0]
    workdir = PurePosixPath(instructions(dockerfile, "WORKDIR")[-1])
    runs = " && ".join(instructions(dockerfile, "RUN"))
    user = re.search(rf"useradd\b[^&]*--uid {uid}\b[^&]* (\w+)\s*(?:&&|$)", runs)
    assert user, f"no useradd for uid {uid}"
    chowned: set[PurePosixPath] = set()
    for owner, paths in re.findall(r"chown (?:-R )?(\S+?)(?::\S+)? ([^&]+)", runs):
        if owner in {user.group(1), uid}:
            chowned |= {PurePosixPath(path) for path in paths.split()}
    assert settings.store.path is not None
    # The compose app's store (app.env) and the default one (relative to the working directory).
    default_store = parse_store_url(DEFAULT_STORE, base_dir=Path(workdir))
    assert default_store.path is not None
    for directory in (PurePosixPath(settings.store.path).parent, PurePosixPath(default_store.path).parent):
        assert directory in chowned, f"{directory} is not created for the app user"


def test_app_env_sets_the_session_timeouts_within_the_max_age(settings: Settings, app_env: dict[str, str]) -> None:
    assert {"AUTH_STORE", "AUTH_SESSION_TIMEOUT", "AUTH_SESSION_MAX_AGE"} <= set(app_env)
    assert settings.stateful
    assert 0 < settings.session_timeout < settings.session_max_age


def test_realm_post_logout_redirect_is_the_apps_root_with_a_trailing_slash(
    settings: Settings, client: dict[str, Any]
) -> None:
    expected = PublicAddress(settings).post_logout_redirect_uri()
    assert expected == f"{settings.public_url}/" == "http://localhost:8501/"
    assert client["attributes"]["post.logout.redirect.uris"].split("##") == [expected]


def test_backchannel_logout_url_is_a_post_route_the_app_serves(settings: Settings, client: dict[str, Any]) -> None:
    url = urlsplit(client["attributes"]["backchannel.logout.url"])
    assert url.path == f"{settings.base_path}{BACKCHANNEL_PATH}" == BACKCHANNEL_PATH
    assert not url.query and not url.fragment
    # The routes the app really mounts (with an in-memory store: no files are touched here).
    routes = Auth(replace(settings, store=StoreSpec("memory"))).routes
    assert any(route.path == url.path and "POST" in (route.methods or set()) for route in routes)


# --------------------------------------------------------------------------- profile "replicas"


def test_plain_up_starts_keycloak_and_the_single_app_only(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert {name for name, service in services.items() if not profiles(service)} == {"keycloak", "app"}
    for name, service in services.items():
        assert profiles(service) in ([], [REPLICAS_PROFILE]), name
    assert {name for name, service in services.items() if profiles(service)} == {*REPLICAS, "redis", "lb"}


def test_compose_documents_that_the_replicas_profile_scales_the_single_app_to_zero() -> None:
    """lb takes app's host port and its name: both running at once would collide."""
    commands = [
        line
        for line in COMPOSE_FILE.read_text(encoding="utf-8").splitlines()
        if line.startswith("#") and "docker compose -f docker/compose.yml" in line and "--profile replicas up" in line
    ]
    assert len(commands) == 1, "the header names the command that starts the replicas profile"
    assert re.search(r"\s--scale[ =]app=0(\s|$)", commands[0]), commands[0]


def test_replicas_run_the_apps_image_with_its_env_file_and_secrets(
    app: dict[str, Any], replicas: dict[str, dict[str, Any]]
) -> None:
    for name, replica in replicas.items():
        assert replica["build"] == app["build"], name
        assert replica["env_file"] == app["env_file"], name
        assert replica["secrets"] == app["secrets"], name
        assert "image" not in replica or replica.get("image") == app.get("image"), name
        # Only the load balancer is published: the replicas are reached through it.
        assert not replica.get("ports"), name
        assert replica["depends_on"]["keycloak"]["condition"] == "service_healthy", name
        assert replica["depends_on"]["redis"]["condition"] == "service_healthy", name


def test_replicas_share_one_cookie_secret_and_the_apps_settings(
    settings: Settings, replica_settings: dict[str, Settings], replicas: dict[str, dict[str, Any]]
) -> None:
    for name, replica in replicas.items():
        # No per-replica secret may shadow the mounted one.
        assert not {"AUTH_COOKIE_SECRET", "AUTH_COOKIE_SECRET_FILE"} & set(environment(replica)), name
    secrets = {name: [s.value for s in replica.cookie_secrets] for name, replica in replica_settings.items()}
    assert secrets["app-1"] == secrets["app-2"] == [s.value for s in settings.cookie_secrets]
    assert all(len(value) >= MIN_SECRET_LENGTH for value in secrets["app-1"])
    for name, replica in replica_settings.items():
        assert replica.warnings == (), name
        assert replica.public_url == settings.public_url, name
        assert replica.cookie_name == settings.cookie_name, name
        assert [(p.name, p.issuer, p.client_id) for p in replica.providers] == [
            (p.name, p.issuer, p.client_id) for p in settings.providers
        ], name
        assert (replica.session_timeout, replica.session_max_age) == (
            settings.session_timeout,
            settings.session_max_age,
        )


def test_replicas_keep_sessions_in_the_redis_service(
    compose: dict[str, Any], replica_settings: dict[str, Settings]
) -> None:
    urls = set()
    for name, replica in replica_settings.items():
        assert replica.store.kind == "redis" and replica.store.url is not None, name
        urls.add(replica.store.url.value)
    assert len(urls) == 1, "both replicas must use one store"
    url = urlsplit(urls.pop())
    assert url.scheme == "redis"
    assert url.hostname == "redis" and url.hostname in compose["services"]
    assert (url.port or REDIS_PORT) == REDIS_PORT
    assert url.path.strip("/").isdigit()


def test_replicas_trust_forwarded_headers_from_the_load_balancer(replicas: dict[str, dict[str, Any]]) -> None:
    for name, replica in replicas.items():
        assert environment(replica).get("FORWARDED_ALLOW_IPS"), name


def test_redis_is_the_official_image_with_a_ping_healthcheck(redis: dict[str, Any]) -> None:
    assert redis["image"] == "redis:7-alpine"
    assert profiles(redis) == [REPLICAS_PROFILE]
    probe = healthcheck_text(redis)
    assert "redis-cli" in probe and re.search(r"\bping\b", probe), probe
    assert "PONG" in probe  # redis-cli exits 0 on an error reply too
    assert not redis.get("ports"), "only the replicas need Redis: no host port"


def test_load_balancer_is_nginx_on_the_apps_public_port(
    lb: dict[str, Any], app: dict[str, Any], settings: Settings
) -> None:
    assert lb["image"] == "nginx:1.27-alpine"
    assert profiles(lb) == [REPLICAS_PROFILE]
    # The browser keeps AUTH_PUBLIC_URL (and the realm's redirect URIs) in either arrangement.
    assert published_ports(lb) == published_ports(app)
    assert {host for host, _ in published_ports(lb)} == {url_port(settings.public_url)}
    mounts = [(source, options) for source, target, options in volume_mounts(lb) if target == NGINX_TARGET]
    assert len(mounts) == 1, lb.get("volumes")
    source, options = mounts[0]
    assert (DOCKER / source).resolve() == NGINX_CONF.resolve()
    assert "ro" in options
    for name in REPLICAS:
        assert name in lb["depends_on"], name


def test_load_balancer_takes_the_apps_name_and_the_backchannel_port(
    lb: dict[str, Any], client: dict[str, Any], nginx: list[Directive]
) -> None:
    backchannel = urlsplit(client["attributes"]["backchannel.logout.url"])
    aliases = lb["networks"]["default"]["aliases"]
    assert backchannel.hostname in aliases
    listen_ports = {int(d.args[0].rsplit(":", 1)[-1]) for d in find(nginx, "listen")}
    assert listen_ports == {url_port(backchannel.geturl())}
    assert container_ports(lb) == listen_ports


def test_nginx_balances_both_replicas_without_stickiness(nginx: list[Directive], proxied: Directive) -> None:
    (target,) = [urlsplit(d.args[0]) for d in find(proxied.block or [], "proxy_pass")]
    upstreams = {d.args[0]: d for d in find(nginx, "upstream")}
    assert target.hostname in upstreams, "proxy_pass names an upstream block"
    upstream = upstreams[target.hostname].block or []
    servers = [d.args for d in upstream if d.name == "server"]
    assert sorted(args[0] for args in servers) == [f"{name}:8501" for name in REPLICAS]
    assert all(len(args) == 1 for args in servers), "no weights, backup or down flags"
    for sticky in ("ip_hash", "hash", "sticky", "sticky_cookie_insert"):
        assert not find(nginx, sticky), sticky


def test_nginx_upgrades_websockets_and_keeps_them_open(nginx: list[Directive], proxied: Directive) -> None:
    block = proxied.block or []
    assert [d.args for d in block if d.name == "proxy_http_version"] == [("1.1",)]
    headers = proxy_headers(proxied)
    assert headers["upgrade"] == "$http_upgrade"
    connection = headers["connection"]
    if connection.startswith("$"):
        # The usual map: "upgrade" for a WebSocket handshake, "close" otherwise.
        maps = [d for d in find(nginx, "map") if d.args == ("$http_upgrade", connection)]
        assert len(maps) == 1, f"no map from $http_upgrade to {connection}"
        entries = {d.name: d.args for d in maps[0].block or []}
        assert entries["default"] == ("upgrade",)
    else:
        assert connection.lower() == "upgrade"
    (timeout,) = [d.args[0] for d in block if d.name == "proxy_read_timeout"]
    assert nginx_seconds(timeout) >= 3600


def test_nginx_passes_the_host_and_the_clients_address(proxied: Directive) -> None:
    headers = proxy_headers(proxied)
    # $http_host keeps the port (localhost:8501) the app compares with AUTH_PUBLIC_URL; $host drops it.
    assert headers["host"] == "$http_host"
    assert headers["x-forwarded-for"] == "$proxy_add_x_forwarded_for"
    assert headers["x-forwarded-proto"] == "$scheme"


def test_nginx_parser_reads_blocks_comments_and_times() -> None:
    parsed = parse_nginx("# c\nhttp { map $a $b { default x; '' y; } server { listen 80; } }")
    assert [d.name for d in find(parsed, "listen")] == ["listen"]
    assert {d.name: d.args for d in find(parsed, "map")[0].block or []} == {"default": ("x",), "": ("y",)}
    assert nginx_seconds("1h30m") == 5400 and nginx_seconds("75") == 75
    with pytest.raises(AssertionError):
        parse_nginx("server { listen 80;")
