"""HTML of the simulated ``/oauth/v2/authorize`` consent and error pages."""

from __future__ import annotations

import html

from ml_connector.sim.slack.oauth import AuthorizeRequest


def consent_page(request: AuthorizeRequest, *, team_name: str) -> str:
    """The "Allow" form; it posts back the same parameters with the user's decision."""
    hidden = {
        "client_id": request.app.client_id,
        "scope": ",".join(sorted(request.scopes)),
        "redirect_uri": request.bound_redirect_uri or "",
        "state": request.state,
    }
    inputs = "".join(
        f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
        for k, v in hidden.items()
    )
    scopes = "".join(f"<li><code>{html.escape(s)}</code></li>" for s in sorted(request.scopes))
    return (
        "<!doctype html><html><head><meta charset=utf-8><title>Install app</title></head><body>"
        f"<h1>{html.escape(request.app.name)} is requesting permission to access the "
        f"{html.escape(team_name)} workspace</h1>"
        f"<p>It will be able to:</p><ul>{scopes}</ul>"
        f'<form method="post" action="/oauth/v2/authorize">{inputs}'
        '<button type="submit" name="decision" value="deny">Cancel</button> '
        '<button type="submit" name="decision" value="allow">Allow</button>'
        "</form></body></html>"
    )


def error_page(problem: str) -> str:
    return (
        "<!doctype html><html><head><meta charset=utf-8><title>Install error</title></head>"
        f"<body><h1>Something went wrong when authorizing this app.</h1>"
        f"<p>Error: <code>{html.escape(problem)}</code></p></body></html>"
    )
