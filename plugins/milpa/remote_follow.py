"""Follow from your own server: the reader names it, we send their browser to its follow screen.

A static page cannot send a form to an address the reader types, so the form comes to the
site, which answers with a redirect to ``https://SERVER/authorize_interaction?uri=ACTOR``
(Mastodon's, also answered by Pleroma, Akkoma and Misskey forks). The site never contacts
that server itself: only the reader's browser does.
"""

from __future__ import annotations

import re
from urllib.parse import quote, urlsplit

import idna

# One DNS name with at least two labels: no IP literals, no ports, no paths, no userinfo.
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


def server_host(typed: str) -> str | None:
    """The host a reader means by what they typed: ``mastodon.social``,
    ``https://mastodon.social/``, or their own handle ``@ana@mastodon.social``."""
    text = typed.strip()
    if "@" in text and "://" not in text:
        text = text.rsplit("@", 1)[1]
    if "://" in text:
        parts = urlsplit(text)
        if parts.scheme != "https" or parts.username or parts.port:
            return None
        text = parts.hostname or ""
    text = text.rstrip("/").rstrip(".")
    try:
        host = idna.encode(text, uts46=True).decode("ascii").lower()
    except idna.IDNAError:
        return None
    labels = host.split(".")
    if len(labels) < 2 or len(host) > 253 or not all(_LABEL.match(label) for label in labels):
        return None
    # A name made of digits only is an address in disguise (127.1, 2130706433.0).
    if labels[-1].isdigit():
        return None
    return host


def follow_url(typed_server: str, actor: str, base: str) -> str | None:
    """Where to send the reader, or None when the server or the actor is not acceptable.

    Only the site's own actors can be followed this way, so the redirect cannot be used to
    send people anywhere else under the site's name.
    """
    if not actor.startswith(base.rstrip("/") + "/"):
        return None
    host = server_host(typed_server)
    if host is None:
        return None
    return f"https://{host}/authorize_interaction?uri={quote(actor, safe='')}"
