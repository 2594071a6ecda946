"""How others find the actors: WebFinger (RFC 7033), host-meta (RFC 6415) and NodeInfo."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import unquote, urlsplit

from . import __version__
from .activitypub import ACTIVITY_JSON

NODEINFO_SCHEMA = "http://nodeinfo.diaspora.software/ns/schema/2.1"
NODEINFO_TYPE = f'application/json; profile="{NODEINFO_SCHEMA}#"'
JRD_TYPE = "application/jrd+json"
# One JRD per actor, at .well-known/jrd/NAME.json; servers route ?resource= there.
JRD_FOLDER = ".well-known/jrd"
XRD_TYPE = "application/xrd+xml"


def host_of(base: str) -> str:
    """The host part of ``acct:name@host``: with the port when there is one."""
    return urlsplit(base).netloc


_ACCT = re.compile(r"^acct:(?P<name>[^@/]+)@(?P<host>[^@/]+)$", re.IGNORECASE)


def webfinger_name(resource: str, base: str) -> str | None:
    """The actor a WebFinger ``resource`` asks for: ``acct:name@host`` or the actor's URL.

    None when it names another host, or is not a form we publish.
    """
    resource = unquote(resource).strip()
    found = _ACCT.match(resource)
    if found:
        same_host = not base or found["host"].lower() == host_of(base).lower()
        return found["name"].lower() if same_host else None
    prefix = f"{base.rstrip('/')}/ap/actors/"
    if base and resource.startswith(prefix) and "/" not in resource[len(prefix):]:
        return resource[len(prefix):]
    return None


def webfinger_document(name: str, base: str, actor_id: str, page_url: str) -> dict[str, Any]:
    return {
        "subject": f"acct:{name}@{host_of(base)}",
        "aliases": [actor_id, page_url],
        "links": [
            {"rel": "self", "type": ACTIVITY_JSON, "href": actor_id},
            {"rel": "http://webfinger.net/rel/profile-page", "type": "text/html",
             "href": page_url},
        ],
    }


def host_meta(base: str) -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<XRD xmlns="http://docs.oasis-open.org/ns/xri/xrd-1.0">\n'
        f'  <Link rel="lrdd" template="{base}/.well-known/webfinger?resource={{uri}}"/>\n'
        "</XRD>\n"
    )


def nodeinfo_links(base: str) -> dict[str, Any]:
    return {"links": [{"rel": NODEINFO_SCHEMA, "href": f"{base}/nodeinfo/2.1"}]}


def nodeinfo_document(stories: int, actors: int, site_name: str) -> dict[str, Any]:
    return {
        "version": "2.1",
        "software": {"name": "milpa", "version": __version__},
        "protocols": ["activitypub"],
        "services": {"inbound": [], "outbound": ["atom1.0", "rss2.0"]},
        "openRegistrations": False,
        "usage": {"users": {"total": actors}, "localPosts": stories},
        "metadata": {"nodeName": site_name},
    }
