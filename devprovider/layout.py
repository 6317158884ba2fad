"""The provider's look: Streamlit's (system font, the red accent, white cards with subtle
borders), the "Development only" mark on every page, and the one-message page.

Accessible by WCAG 2.2 level AA (tests/browser/test_accessibility.py runs axe-core on every
page): text in red is ``--accent-dark`` (#c62828: 4.6:1 on the avatars' pink, 5.0:1 on the
page's grey, 5.6:1 on white), since Streamlit's #ff4b4b is 3.3:1 on white at best and stays
for what is not text (the logo, borders); focus rings are the darker red too (SC 1.4.11: 3:1
against the grey as well as the white); the banner is in a ``header`` landmark.

Pages load nothing from elsewhere (the mark is inline SVG), and their headers forbid framing,
caching and referrers (an authorization request's URL carries its ``state``).
"""

from __future__ import annotations

import html

from starlette.responses import HTMLResponse

#: No ``form-action``: Chromium applies it to the redirect that follows a form post, which here
#: is the app's callback on another origin.
SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
}

_STYLE = """
:root{--accent:#ff4b4b;--accent-dark:#c62828;--text:#31333f;--muted:#6b6e78;--border:rgba(49,51,63,.16);
--bg:#f0f2f6;--chip:#f0f2f6}
*{box-sizing:border-box}
body{margin:0;font-family:system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;
background:var(--bg);color:var(--text);line-height:1.5;font-size:16px}
.dev-banner{background:#fff8db;color:#6b5000;border-bottom:1px solid #f2e2a0;padding:.55rem 1rem;
text-align:center;font-size:.875rem}
main{max-width:32rem;margin:7vh auto 3rem;padding:0 1rem}
.card{background:#fff;border:1px solid var(--border);border-radius:.75rem;padding:2rem;
box-shadow:0 1px 2px rgba(49,51,63,.04)}
.brand{display:flex;align-items:center;gap:.6rem;font-weight:600;font-size:.95rem;margin-bottom:1.5rem}
.logo{display:inline-flex;width:2rem;height:2rem;border-radius:.5rem;background:var(--accent);color:#fff;
align-items:center;justify-content:center}
.pill{margin-left:auto;font-size:.7rem;font-weight:700;letter-spacing:.06em;text-transform:uppercase;
color:#6b5000;background:#fff1b8;border:1px solid #f2dc8a;border-radius:999px;padding:.15rem .6rem;white-space:nowrap}
h1{font-size:1.6rem;line-height:1.25;margin:0 0 .35rem;font-weight:700}
.lead{color:var(--muted);margin:0 0 1.5rem}
.lead strong{color:var(--text);font-weight:600}
ul.list{list-style:none;margin:0;padding:0;display:grid;gap:.75rem}
form{margin:0}
.account{position:relative;display:flex;align-items:flex-start;gap:.9rem;
background:#fff;border:1px solid var(--border);border-radius:.6rem;padding:1rem 1.1rem;cursor:pointer;
transition:border-color .12s,box-shadow .12s,background-color .12s}
.account:hover{border-color:var(--accent);background:#fffafa;box-shadow:0 2px 8px rgba(255,75,75,.12)}
.account:has(.pick:active){background:#fff1f1}
.pick{font:inherit;color:inherit;background:none;border:0;padding:0;margin:0;cursor:pointer;text-align:inherit}
.pick::after{content:"";position:absolute;inset:-1px;border-radius:.6rem}
.pick:focus-visible{outline:none}
.pick:focus-visible::after,.button:focus-visible,a:focus-visible{outline:3px solid var(--accent-dark);outline-offset:2px}
.avatar{flex:none;width:2.6rem;height:2.6rem;border-radius:50%;background:#ffe3e3;color:var(--accent-dark);
display:inline-flex;align-items:center;justify-content:center;font-weight:700;font-size:1rem}
.who{flex:1;min-width:0;display:block}
.name{display:block;font-weight:600;font-size:1.05rem}
.sub{display:block;color:var(--muted);font-size:.875rem;overflow-wrap:anywhere}
.facts{display:block;margin-top:.55rem}
.fact{display:flex;flex-wrap:wrap;align-items:center;gap:.3rem;margin-top:.25rem;font-size:.8rem}
.fact-label{color:var(--muted);min-width:3.4rem}
.chip{background:var(--chip);border-radius:.35rem;padding:.05rem .45rem;font-size:.78rem;
font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
.chip.role{background:#ffe3e3;color:#a51d1d}
.none{color:var(--muted);font-style:italic}
.here{font-size:.7rem;font-weight:600;color:#1b6e3a;background:#dcf5e4;border-radius:999px;padding:.05rem .5rem;
margin-left:.4rem;vertical-align:middle}
.go{flex:none;align-self:center;color:var(--muted);font-size:1.4rem;line-height:1}
.account:hover .go{color:var(--accent-dark)}
.row{display:flex;align-items:center;gap:.9rem;border:1px solid var(--border);border-radius:.6rem;padding:.9rem 1rem}
.button{font:inherit;font-size:.9rem;cursor:pointer;background:#fff;color:var(--text);border:1px solid var(--border);
border-radius:.5rem;padding:.4rem .9rem;text-decoration:none;display:inline-block;white-space:nowrap}
.button:hover{border-color:var(--accent-dark);color:var(--accent-dark)}
.note{color:var(--muted);font-size:.85rem;margin:1.5rem 0 0}
.empty{color:var(--muted);border:1px dashed var(--border);border-radius:.6rem;padding:1rem;text-align:center;margin:0}
dl.about{display:grid;grid-template-columns:max-content 1fr;gap:.25rem 1rem;font-size:.85rem;margin:1.5rem 0 0}
dl.about dt{color:var(--muted)}
dl.about dd{margin:0;overflow-wrap:anywhere;font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.8rem}
footer{margin-top:1.25rem;text-align:center;font-size:.85rem;color:var(--muted)}
footer a,.card a{color:var(--accent-dark)}
h2{font-size:1rem;margin:1.75rem 0 .6rem}
.card>.lead:last-child{margin-bottom:0}
@media (max-width:480px){main{margin-top:1.5rem;padding:0 .75rem}.card{padding:1.25rem}.account{padding:.9rem}
.brand{flex-wrap:wrap}.pill{margin-left:0}}
.sr{position:absolute;width:1px;height:1px;overflow:hidden;clip-path:inset(50%);white-space:nowrap}
"""

#: A key in a rounded square: the provider's mark (inline, so the page loads nothing).
_LOGO = (
    '<svg width="18" height="18" viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="2.2" '
    'stroke-linecap="round" stroke-linejoin="round" aria-hidden="true" focusable="false">'
    '<circle cx="8" cy="15" r="4"/><path d="M10.8 12.2 20 3"/><path d="m16 7 3 3"/><path d="m18.5 4.5 2 2"/></svg>'
)

_BANNER = (
    '<header><div class="dev-banner" role="note"><strong>Development only.</strong> '
    "A local OpenID provider for trying sign-in on your machine: anyone can sign in as any account "
    "here. Never use it in production.</div></header>"
)


def document(title: str, card: str, *, footer: str = "", status: int = 200) -> HTMLResponse:
    """A whole page: the development-only banner, the brand and ``card`` (HTML, already
    escaped), then ``footer`` (HTML) under the card."""
    body = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)} · Development provider</title><style>{_STYLE}</style></head>"
        f'<body>{_BANNER}<main><div class="card">'
        f'<div class="brand"><span class="logo">{_LOGO}</span><span>Development provider</span>'
        '<span class="pill">Development only</span></div>'
        f"{card}</div>{footer}</main></body></html>"
    )
    # "replace": a claim may hold what provider JSON can but UTF-8 cannot (a lone surrogate,
    # see responses.AsciiJSON); the page shows a replacement character instead of failing.
    return HTMLResponse(body.encode("utf-8", "replace"), status_code=status, headers=SECURITY_HEADERS)


def message_page(title: str, message: str, *, status: int = 200, link: tuple[str, str] | None = None) -> HTMLResponse:
    """A page that says one thing (an error, "Signed out"), with an optional (label, href) link."""
    action = (
        f'<p class="note"><a class="button" href="{html.escape(link[1])}">{html.escape(link[0])}</a></p>'
        if link is not None
        else ""
    )
    card = f'<h1>{html.escape(title)}</h1><p class="lead">{html.escape(message)}</p>{action}'
    return document(title, card, status=status)
