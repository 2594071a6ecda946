"""The one signer: which key id and private key sign what our actors send and fetch."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .activitypub import ApUrls
from .keys import read_private_key
from .settings import setting, site_url


@dataclass(frozen=True)
class Signer:
    """Who signs our outgoing requests: a key id and its private key (PEM)."""

    key_id: str
    private_key: str

    @classmethod
    def for_site(cls, settings: dict[str, Any], base: str | None = None) -> Signer:
        """The site actor's key, which signs our fetches (raises KeyMissing without one).

        ``base`` is the address the site is served at, when it is not its SITEURL.
        """
        urls = ApUrls(base or site_url(settings))
        return cls(urls.key(setting(settings, "MILPA_ACTOR_USERNAME")),
                   read_private_key(Path(setting(settings, "MILPA_KEYS_PATH"))))
