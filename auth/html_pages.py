"""Small self-contained HTML pages for what happens outside Streamlit (errors, refusals).

Every dynamic value is escaped; pages load nothing from elsewhere, and the
headers forbid caching and referrers (the callback URL carries a code).

Text meets WCAG 2.2 SC 1.4.3 (4.5:1; tests/browser/test_accessibility.py runs axe-core on
these pages): the primary button is a darker red than Streamlit's #ff4b4b, whose white
label would be 3.3:1; #d32f2f gives 5.0:1.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape

from starlette.responses import HTMLResponse

SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
}

_STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;background:#f6f7f9;color:#1f2328;margin:0}
main{max-width:34rem;margin:12vh auto;background:#fff;border:1px solid #d8dee4;border-radius:12px;padding:2rem 2.25rem}
h1{font-size:1.35rem;margin:0 0 .75rem}
p{line-height:1.5}
.links{margin-top:1.5rem;display:flex;gap:.75rem;flex-wrap:wrap}
.button{display:inline-block;font:inherit;cursor:pointer;background:#fff;padding:.55rem 1rem;border-radius:8px;text-decoration:none;border:1px solid #d0d7de;color:#1f2328}
.primary{background:#d32f2f;border-color:#d32f2f;color:#fff}
.ref{color:#656d76;font-size:.8rem;margin-top:1.5rem}
code{background:#f6f8fa;padding:.1rem .3rem;border-radius:4px}
"""


def page(
    title: str,
    message: str,
    *,
    status: int,
    links: Sequence[tuple[str, str]] = (),
    details: Sequence[str] = (),
    reference: str | None = None,
    headers: Mapping[str, str] | None = None,
    forms: Sequence[tuple[str, str]] = (),
) -> HTMLResponse:
    """An HTML page: title, plain-words message, optional detail lines, links (label, href).

    ``forms`` (label, action) become POST buttons, placed first: the primary action
    when one must not happen on a mere GET (signing out). Otherwise the first link
    is the primary action (usually "Try again").
    """
    form_html = "".join(
        f'<form method="post" action="{escape(action, quote=True)}" style="margin:0">'
        f'<button class="button{" primary" if index == 0 else ""}" type="submit">{escape(label)}</button></form>'
        for index, (label, action) in enumerate(forms)
    )
    link_html = form_html + "".join(
        f'<a class="button{" primary" if index == 0 and not forms else ""}" '
        f'href="{escape(href, quote=True)}">{escape(label)}</a>'
        for index, (label, href) in enumerate(links)
    )
    detail_html = "".join(f"<p>{escape(line)}</p>" for line in details)
    reference_html = (
        f'<p class="ref">Reference for your administrator: <code>{escape(reference)}</code></p>' if reference else ""
    )
    body = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head>"
        f"<body><main><h1>{escape(title)}</h1><p>{escape(message)}</p>{detail_html}"
        f'<div class="links">{link_html}</div>{reference_html}</main></body></html>'
    )
    return HTMLResponse(body, status_code=status, headers={**SECURITY_HEADERS, **(headers or {})})
