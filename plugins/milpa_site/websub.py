"""Tell a WebSub hub which feeds changed, so subscribers hear at once instead of polling.

Runs after a build, never inside it: the build stays free of network access.
"""

from __future__ import annotations

import logging
import urllib.error
import urllib.request
from urllib.parse import urlencode

logger = logging.getLogger(__name__)
TIMEOUT_SECONDS = 10


def ping_hub(hub: str, topics: list[str]) -> list[str]:
    """POST ``hub.mode=publish`` for each topic URL; returns the topics the hub refused."""
    refused = []
    for topic in topics:
        body = urlencode({"hub.mode": "publish", "hub.url": topic}).encode()
        request = urllib.request.Request(
            hub, data=body, method="POST",
            headers={"Content-Type": "application/x-www-form-urlencoded"})
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:
                response.read()
        except (urllib.error.URLError, TimeoutError) as error:
            logger.warning("WebSub hub %s did not take %s: %s", hub, topic, error)
            refused.append(topic)
    return refused
