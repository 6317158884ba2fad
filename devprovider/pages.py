"""The provider's pages for people: the sign-in page (one card per account) and the sessions page.

The sign-in page is what a newcomer sees first after ``scripts/run.sh``, so it looks like a
product: each account is a card showing what the app will receive (name, e-mail, roles,
groups). It is keyboard-accessible: the username on each card is a real ``<button>``, named
by that username, stretched over the card and described by the rest of it. Every value from a
request or a user's claims is escaped. The look and the page shell are ``layout``'s.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from starlette.responses import HTMLResponse

from .layout import document
from .users import ProviderUser


@dataclass(frozen=True)
class Account:
    """What a card shows about a user: the claims an app receives, as a person reads them."""

    sub: str
    #: the accessible name of the account's button: the username, else the e-mail, else ``sub``
    label: str
    name: str | None
    email: str | None
    roles: tuple[str, ...]
    groups: tuple[str, ...]

    @classmethod
    def of(cls, user: ProviderUser) -> Account:
        claims = user.claims
        label = _text(claims.get("preferred_username")) or _text(claims.get("email")) or user.sub
        roles = list(_strings(claims.get("roles")))
        realm = claims.get("realm_access")
        if isinstance(realm, Mapping):
            roles += _strings(realm.get("roles"))
        clients = claims.get("resource_access")
        if isinstance(clients, Mapping):
            for client, access in clients.items():
                if isinstance(access, Mapping):
                    roles += [f"{client}: {role}" for role in _strings(access.get("roles"))]
        return cls(
            sub=user.sub,
            label=label,
            name=_text(claims.get("name")),
            email=_text(claims.get("email")),
            roles=tuple(dict.fromkeys(roles)),
            groups=tuple(_strings(claims.get("groups"))),
        )

    @property
    def initials(self) -> str:
        words = (self.name or self.label).replace("@", " ").replace(".", " ").split()
        return "".join(word[0] for word in words[:2]).upper() or "?"


def sign_in_page(
    params: Mapping[str, str],
    users: Iterable[ProviderUser],
    action: str,
    *,
    signed_in_sub: str | None = None,
    console: str,
) -> HTMLResponse:
    """The authorization endpoint's form: one card (a submit button, ``name="user"``, value =
    ``sub``) per account, the request's parameters as hidden fields, posted to ``action``.

    ``signed_in_sub`` marks the account this browser is signed in as here (shown when the
    app asked to choose again, ``prompt=login`` or ``select_account``)."""
    hidden = "".join(
        f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">' for k, v in params.items()
    )
    cards = "".join(
        _account_card(Account.of(user), index, user.sub == signed_in_sub) for index, user in enumerate(users)
    )
    target = _host_of(params.get("redirect_uri", ""))
    lead = f"to continue to <strong>{html.escape(target)}</strong>" if target else "to continue"
    card = (
        f'<h1>Choose an account</h1><p class="lead">{lead}</p>'
        f'<form method="post" action="{html.escape(action)}">{hidden}'
        f'<ul class="list" aria-label="Accounts">{cards}</ul></form>'
        '<p class="note">There are no passwords here: pick an account and the app receives its '
        "name, e-mail, roles and groups in a real ID token.</p>"
    )
    footer = f'<footer><a href="{html.escape(console)}">Sessions at this provider</a></footer>'
    return document("Sign in", card, footer=footer)


@dataclass(frozen=True)
class SessionRow:
    """One live provider session, as the sessions page lists it."""

    sid: str
    account: Account
    signed_in_at: str
    this_browser: bool


def sessions_page(rows: Sequence[SessionRow], end_action: str, about: Sequence[tuple[str, str]]) -> HTMLResponse:
    """Who is signed in at the provider, each with a "Sign out" button posting its ``sid`` to
    ``end_action``; then ``about`` (label, value) facts a developer needs (issuer, client)."""
    if rows:
        items = "".join(_session_row(row, end_action) for row in rows)
        listing = f'<ul class="list" aria-label="Sessions">{items}</ul>'
    else:
        listing = '<p class="empty">No one is signed in at this provider.</p>'
    facts = "".join(f"<dt>{html.escape(label)}</dt><dd>{html.escape(value)}</dd>" for label, value in about)
    card = (
        '<h1>Sessions</h1><p class="lead">Who is signed in at this provider. Signing a session out here '
        "ends it and tells the app over the back channel (OpenID Connect Back-Channel Logout): "
        "its open tabs show the login view within seconds.</p>"
        f'{listing}<h2>This provider</h2><dl class="about">{facts}</dl>'
    )
    return document("Sessions", card)


def _account_card(account: Account, index: int, signed_in_here: bool) -> str:
    """One account as a card whose username is its submit button.

    The button shows ``account.label`` (the username a person would type elsewhere) and is
    named by it, so its name is what it shows (WCAG 2.2 SC 2.5.3, Label in Name: the name,
    the e-mail and the roles on the card are not in the name, so they are outside the
    button). CSS stretches the button over the whole card (``.pick::after``), so the card
    is still what a pointer clicks and what the focus ring surrounds; the rest of the card
    is the button's description."""
    name_id, details_id, here_id = (f"account-{index}-{part}" for part in ("name", "details", "here"))
    here = f'<span class="here" id="{here_id}">Signed in here</span>' if signed_in_here else ""
    primary = account.name or account.label
    described_by = " ".join(
        ([name_id] if primary != account.label else []) + [details_id] + ([here_id] if signed_in_here else [])
    )
    button = (
        f'<button class="pick" type="submit" name="user" value="{html.escape(account.sub)}" '
        f'aria-describedby="{described_by}">{html.escape(account.label)}</button>'
    )
    others = [part for part in dict.fromkeys((account.label, account.email)) if part and part != primary]
    if primary == account.label:
        heading = f'<span class="name">{button}{here}</span>'
        line = " · ".join(html.escape(part) for part in others)
    else:
        heading = f'<span class="name"><span id="{name_id}">{html.escape(primary)}</span>{here}</span>'
        line = " · ".join(button if part == account.label else html.escape(part) for part in others)
    sub = f'<span class="sub">{line}</span>' if line else ""
    return (
        f'<li class="account"><span class="avatar" aria-hidden="true">{html.escape(account.initials)}</span>'
        f'<span class="who">{heading}<span id="{details_id}">{sub}{_facts(account)}</span></span>'
        '<span class="go" aria-hidden="true">›</span></li>'
    )


def _facts(account: Account) -> str:
    return f'<span class="facts">{_fact("Roles", account.roles, "role")}{_fact("Groups", account.groups, "")}</span>'


def _fact(label: str, values: Sequence[str], kind: str) -> str:
    if values:
        chips = "".join(f'<span class="chip {kind}">{html.escape(value)}</span>' for value in values)
    else:
        chips = '<span class="none">none</span>'
    # The colon and the commas are for screen readers, which read the chips as one run of text.
    spoken = f'<span class="fact-label">{html.escape(label)}<span class="sr">:</span></span>'
    return f'<span class="fact">{spoken}{chips}</span>'


def _session_row(row: SessionRow, end_action: str) -> str:
    """A live session: who, since when, its ``sid`` (shortened; whole on hover, as logs carry
    it) and a "Sign out" button named after the account for screen readers."""
    account = row.account
    here = '<span class="here">This browser</span>' if row.this_browser else ""
    email = f'<span class="sub">{html.escape(account.email)}</span>' if account.email else ""
    return (
        f'<li class="row"><span class="avatar" aria-hidden="true">{html.escape(account.initials)}</span>'
        f'<span class="who"><span class="name">{html.escape(account.name or account.label)}{here}</span>{email}'
        f'<span class="sub">Signed in at {html.escape(row.signed_in_at)} · session '
        f'<code title="{html.escape(row.sid)}">{html.escape(row.sid[:8])}</code></span></span>'
        f'<form method="post" action="{html.escape(end_action)}">'
        f'<input type="hidden" name="sid" value="{html.escape(row.sid)}">'
        f'<button class="button" type="submit" aria-label="Sign out {html.escape(account.label)}">Sign out</button>'
        "</form></li>"
    )


def _host_of(uri: str) -> str:
    """``localhost:8501`` of ``http://localhost:8501/auth/callback/dev``: where the user is going."""
    return urlsplit(uri).netloc


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [item for item in value if isinstance(item, str)]
    return []
