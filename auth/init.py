"""``python -m auth init``: add sign-in to an existing Streamlit app, from the app's folder.

It finds the entry script (``auth.init_entry``), writes the ``st.App`` wrapper
beside it and a ``.env`` with a fresh cookie secret and the provider asked for
(``auth.init_settings``), and adds ``.env`` and the session store's folder to
``.gitignore`` (``auth.init_files``). Then it checks the settings as the app
will at start-up (``auth.config.load_settings``: the same messages), prints the
URIs to register at the provider (``auth.address.PublicAddress``, as the doctor
does) and the command to run. It never replaces a file without ``--force``,
never touches the app's own scripts, and says what it wrote and left alone.

Exit status: 0 ready to run; 1 written, but something needs the user first (a
setting to fill, a file in the way); 2 nothing written (the entry script cannot
be told, or an option is wrong).
"""

from __future__ import annotations

import importlib.resources
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from dotenv import dotenv_values

from .config import DEFAULT_STORE
from .init_entry import find_entry, read_script
from .init_files import (
    WRAPPER_NAME,
    WRAPPER_NAME_BESIDE_APP_PY,
    EnvSetting,
    merge_env,
    merge_gitignore,
    render_env,
    render_wrapper,
    write_new,
)
from .init_report import check_settings, print_guard_advice, print_run, print_uris
from .init_settings import InitOptions, InitUsageError, planned_settings
from .stores.factory import parse_store_url

EXAMPLE_NAME = ".env.example"
#: the package's copy of the repository's .env.example (package data, kept equal by a test)
PACKAGED_EXAMPLE = "env.example"


@dataclass
class Outcome:
    """What the run did to each file, and what stands between the user and a working app."""

    wrote: list[str] = field(default_factory=list)
    left_alone: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def run_init(
    options: InitOptions, *, folder: Path, environ: Mapping[str, str], base_path: str, port: int, out: TextIO
) -> int:
    """Set up the app in ``folder``. ``environ`` is the environment the app will see (it wins
    over ``.env``); ``base_path`` and ``port`` are Streamlit's, for the default public URL."""
    folder = folder.resolve()
    try:
        entry, reason = choose_entry(options.entry, folder)
        env_path = folder / ".env"
        current = read_dotenv(env_path)
        planned = planned_settings(
            options,
            current,
            default_public_url=f"http://localhost:{port}{base_path}",
            new_secret=secrets.token_urlsafe(32),
        )
    except InitUsageError as error:
        out.write(f"python -m auth init: {error}\n")
        return 2
    wrapper = folder / (WRAPPER_NAME_BESIDE_APP_PY if entry == folder / WRAPPER_NAME else WRAPPER_NAME)
    outcome = Outcome()
    out.write(f"Entry script: {_relative(entry, folder)} ({reason})\n")
    write_wrapper(wrapper, entry, folder, options.force, outcome)
    write_env(env_path, planned, current, options.force, outcome)
    environment = {**read_dotenv(env_path), **environ}
    write_gitignore(folder, environment, outcome)
    check_shadowing(folder, outcome)
    for line in outcome.wrote:
        out.write(f"  wrote       {line}\n")
    for line in outcome.left_alone:
        out.write(f"  left alone  {line}\n")

    development = not (environment.get("AUTH_PROVIDERS") or "").strip()
    settings, problems = check_settings(environment, development, base_path=base_path, port=port, out=out)
    if problems:
        outcome.problems.append(f".env is not complete yet: fill in what the {problems} lines above name")
    if not development:
        print_uris(environment, settings, base_path=base_path, port=port, out=out)
    print_guard_advice(entry, wrapper, folder, out)
    print_run(wrapper, environment, development, out)
    if "AUTH_ENV_FILE" in environ:
        outcome.problems.append(
            f"AUTH_ENV_FILE is set in this environment: the app reads {environ['AUTH_ENV_FILE'] or 'no file'!r}, not .env"
        )
    for problem in outcome.problems:
        out.write(f"\nProblem: {problem}\n")
    return 1 if outcome.problems else 0


def read_dotenv(path: Path) -> dict[str, str | None]:
    """What python-dotenv (and so the app) reads from ``path``; nothing when it is absent."""
    return dict(dotenv_values(path)) if path.is_file() else {}


def choose_entry(given: str | None, folder: Path) -> tuple[Path, str]:
    """The entry script (``--entry``, else found) and why; ``InitUsageError`` saying what to pass."""
    if given is not None:
        path = (folder / given).resolve()
        if not path.is_file() or path.suffix != ".py" or not path.is_relative_to(folder):
            raise InitUsageError(f"--entry {given}: not a .py file in {folder}")
        script = read_script(path)
        if script is not None and script.builds_app_with_routes:
            raise InitUsageError(f"--entry {given}: it builds st.App(..., routes=...) already; name the script it runs")
        return path, "given with --entry"
    decision = find_entry(folder)
    if decision.entry is not None:
        return decision.entry, decision.reason
    listed = "".join(f"\n  {_relative(path, folder)}" for path in decision.candidates)
    raise InitUsageError(
        f"cannot tell which script is the app's entry script: {decision.reason}.{listed}\n"
        "Name the one you give `streamlit run`: python -m auth init --entry FILE"
    )


def write_wrapper(wrapper: Path, entry: Path, folder: Path, force: bool, outcome: Outcome) -> None:
    """The ``st.App`` wrapper; an existing file stays unless ``force`` (the entry script never
    is the wrapper: an entry named ``app.py`` gets ``auth_app.py`` beside it)."""
    text = render_wrapper(_relative(entry, wrapper.parent), wrapper.stem, f"streamlit run {wrapper.name}")
    does = f"runs {_relative(entry, folder)} with the sign-in routes"
    if not wrapper.exists():
        write_new(wrapper, text, replace=False)
        outcome.wrote.append(f"{wrapper.name} ({does})")
        return
    existing = read_script(wrapper)
    if wrapper.read_text(encoding="utf-8", errors="replace") == text:
        outcome.left_alone.append(f"{wrapper.name} (already as it would be written)")
    elif force:
        write_new(wrapper, text, replace=True)
        outcome.wrote.append(f"{wrapper.name} (replaced, --force: {does})")
    elif existing is not None and existing.builds_app_with_routes:
        outcome.left_alone.append(f"{wrapper.name} (it already builds st.App(..., routes=...); --force replaces it)")
    else:
        outcome.left_alone.append(f"{wrapper.name} (it exists; --force replaces it)")
        outcome.problems.append(
            f"{wrapper.name} exists but does not build st.App(..., routes=auth.routes), so `streamlit run "
            f"{wrapper.name}` would not serve sign-in: move it away, or pass --force to replace it"
        )


def write_env(
    path: Path, planned: list[EnvSetting], current: dict[str, str | None], force: bool, outcome: Outcome
) -> None:
    """A new ``.env``, or the planned settings merged into the one there (see ``merge_env``)."""
    if not path.exists():
        write_new(path, render_env(planned), replace=False)
        outcome.wrote.append(f".env ({', '.join(setting.name for setting in planned)})")
        return
    existing = path.read_text(encoding="utf-8")
    merge = merge_env(existing, planned, current, force=force)
    changes = [
        f"{verb} {', '.join(names)}" for verb, names in (("added", merge.added), ("changed", merge.replaced)) if names
    ]
    if changes:
        write_new(path, merge.text, replace=True)
        outcome.wrote.append(f".env ({'; '.join(changes)})")
    if merge.kept:
        outcome.left_alone.append(f".env's {', '.join(merge.kept)} (set there to another value; --force replaces it)")
    if not changes and not merge.kept:
        outcome.left_alone.append(".env (it already has these settings)")


def store_folder(environment: Mapping[str, str | None], folder: Path) -> str | None:
    """``.streamlit-auth/`` (or the folder ``AUTH_STORE`` names) as a .gitignore line, when it
    is an SQLite store in a folder of its own inside the app's folder."""
    try:
        spec = parse_store_url(environment.get("AUTH_STORE") or DEFAULT_STORE, base_dir=folder)
    except ValueError:
        return None
    if spec.kind != "sqlite" or spec.path is None:
        return None
    parent = spec.path.parent.resolve()
    if parent == folder or not parent.is_relative_to(folder):
        return None
    return f"{parent.relative_to(folder).as_posix()}/"


def write_gitignore(folder: Path, environment: Mapping[str, str | None], outcome: Outcome) -> None:
    path = folder / ".gitignore"
    patterns = [".env", *filter(None, [store_folder(environment, folder)])]
    existing = path.read_text(encoding="utf-8") if path.is_file() else None
    text, added = merge_gitignore(existing, patterns)
    if added:
        write_new(path, text, replace=existing is not None)
        outcome.wrote.append(f".gitignore ({'added' if existing is not None else 'new:'} {', '.join(added)})")
    else:
        outcome.left_alone.append(f".gitignore (it already lists {', '.join(patterns)})")


def check_shadowing(folder: Path, outcome: Outcome) -> None:
    """An ``auth.py`` or ``auth/__init__.py`` of the app's own comes first on ``sys.path`` under
    ``streamlit run``, so ``from auth import Auth`` would import it instead of this package (a
    folder without ``__init__.py`` does not: a regular package later on the path wins)."""
    here = Path(__file__).resolve().parent
    for candidate, name in ((folder / "auth.py", "auth.py"), (folder / "auth" / "__init__.py", "auth/")):
        if candidate.is_file() and candidate.resolve().parent != here:
            outcome.problems.append(
                f"{name} in {folder} hides the sign-in package: `from auth import Auth` in the "
                "wrapper would import it instead. Rename it (and its imports)"
            )


def write_example(folder: Path, force: bool, out: TextIO) -> int:
    """``--example``: the package's ``.env.example``, every setting with its default and meaning."""
    path = folder / EXAMPLE_NAME
    text = importlib.resources.files("auth").joinpath(PACKAGED_EXAMPLE).read_text(encoding="utf-8")
    try:
        write_new(path, text, replace=force)
    except FileExistsError:
        out.write(f"left alone  {EXAMPLE_NAME} (it exists; --force replaces it)\n")
        return 1
    out.write(f"wrote       {EXAMPLE_NAME} (every setting, with its default; copy what you need to .env)\n")
    return 0


def _relative(path: Path, start: Path) -> str:
    return path.relative_to(start).as_posix() if path.is_relative_to(start) else path.as_posix()
