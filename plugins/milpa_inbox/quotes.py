"""Quote requests (FEP-044f): the answer to each, and the stamps it gives, served again.

The policy is the one the built story declares (``output/ap/objects/LANG/SLUG``): what the
Fediverse reads is what the inbox applies, and a rebuild that narrows it takes effect at
once, for new requests and for every stamp already given (the stamp is then no longer
served; announce then withdraws it). The decisions are ``milpa.quotes``; the stamps and
whether each still stands, ``milpa.stamps``.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from milpa.activitypub import ApUrls
from milpa.quotes import quote_answer, quote_authorization, quotes, request_parts
from milpa.stamps import Stamp, StampStore, allows, author_name, built_story, standing
from milpa.state import DataStore
from milpa_delivery.remote import RemoteActors, RemoteRefused

from .keys import own_document


class QuoteRefused(Exception):
    """A request not worth an answer: its status, and why."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


@dataclass(frozen=True)
class Answer:
    activity: dict[str, Any]  # the Accept or Reject
    sender: str  # our actor that answers: the story's
    inbox: str  # the requester's


@dataclass
class QuoteDesk:
    urls: ApUrls
    objects: Path  # output/ap/objects: the stories that exist are the ones built
    store: DataStore
    stamps: StampStore
    remote: RemoteActors
    per_actor: int  # stamps kept per quoting account
    total: int  # stamps kept in all

    async def answer(self, activity: dict[str, Any]) -> Answer:
        """Accept with a stamp or Reject, by the story's policy; QuoteRefused for what is
        not a request about one of our stories. Only an Accept stores anything."""
        try:
            _, requester, target, instrument = request_parts(activity)
        except ValueError as error:
            raise QuoteRefused(400, str(error)) from None
        document = await asyncio.to_thread(built_story, self.objects, self.urls, target)
        name = author_name(document, self.urls) if document is not None else None
        if document is None or name is None:
            raise QuoteRefused(404, "QuoteRequest of a story that is not here")
        try:
            _, inbox = await self.remote.with_inbox(requester)
        except RemoteRefused as error:
            raise QuoteRefused(400, f"cannot read the requester: {error}") from None
        if not await asyncio.to_thread(allows, document, requester, self.urls, self.store):
            return Answer(quote_answer("Reject", self.urls, name, activity), name, inbox)
        # As Mastodon does: the quoting post, read from its own server, must be the
        # requester's and quote this story, or the stamp would vouch for someone else's.
        try:
            post = await own_document(self.remote, instrument)
        except RemoteRefused as error:
            raise QuoteRefused(400, f"cannot read the quoting post: {error}") from None
        if not quotes(post, requester, target):
            raise QuoteRefused(400, "the quoting post is not the requester's or does not "
                                    "quote this story")
        stamp = Stamp(requester, inbox, instrument, target, self.urls.actor(name))
        if not await asyncio.to_thread(self.stamps.save, stamp, self.per_actor,
                                       self.total):
            return Answer(quote_answer("Reject", self.urls, name, activity), name, inbox)
        return Answer(quote_answer("Accept", self.urls, name, activity,
                                   self.urls.stamp(*stamp.parts)), name, inbox)

    def stamp_document(self, actor_part: str, stamp_part: str) -> dict[str, Any] | None:
        """A stamp as it is fetched, only while its story exists and still allows it."""
        stamp = self.stamps.read(actor_part, stamp_part)
        if stamp is None or not standing(stamp, self.objects, self.urls, self.store):
            return None
        return quote_authorization(self.urls.stamp(actor_part, stamp_part), stamp.author,
                                   stamp.instrument, stamp.target)
