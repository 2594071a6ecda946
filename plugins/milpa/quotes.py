"""Who may quote a story (FEP-044f), as documents and decisions: pure, no network.

A story says who may quote it in ``interactionPolicy.canQuote.automaticApproval`` (the
structure GoToSocial defined and Mastodon 4.5 reads). A server that wants to quote it sends
a ``QuoteRequest``; the inbox answers ``Accept`` with a ``QuoteAuthorization`` (the stamp
the quoting post then names, and any server can fetch to check) or ``Reject``. The built
story document is the one place the policy lives: the inbox reads it from there to decide,
and again each time a stamp is asked for, so a story whose policy changed stops vouching
for quotes it no longer allows.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit
from uuid import uuid4

from .activitypub import AS_CONTEXT, PUBLIC, ApUrls
from .i18n import N_
from .stories import FieldError

# author: only the story's own actor; followers: whoever follows that actor here; public:
# anyone; nobody: no one.
POLICIES: tuple[str, ...] = ("author", "followers", "public", "nobody")
FEP_044F = "https://w3id.org/fep/044f#"
STAMP_CONTEXT: list[Any] = [AS_CONTEXT, {
    "gts": "https://gotosocial.org/ns#",
    "QuoteAuthorization": f"{FEP_044F}QuoteAuthorization",
    "interactingObject": {"@id": "gts:interactingObject"},
    "interactionTarget": {"@id": "gts:interactionTarget"},
}]
ANSWER_CONTEXT: list[Any] = [AS_CONTEXT, {"QuoteRequest": f"{FEP_044F}QuoteRequest"}]
# Where a quoting post names what it quotes: FEP-044f's term, then older ones Mastodon reads.
QUOTE_PROPERTIES = ("quote", "quoteUrl", "quoteUri", "_misskey_quote")

POLICY_PROBLEM = N_("'{value}' is not one of {policies} (write 'Quote-Policy: followers')")


def quote_policy(value: str) -> str:
    """A ``Quote-Policy`` value (or ``MILPA_QUOTE_POLICY``) read, or FieldError."""
    word = value.strip().lower()
    if word not in POLICIES:
        raise FieldError(POLICY_PROBLEM, value=value, policies=", ".join(POLICIES))
    return word


def quote_approval(policy: str, author: str, followers: str) -> list[str]:
    """``automaticApproval`` for a policy: who may quote without asking anyone."""
    return {"author": [author], "followers": [followers], "public": [PUBLIC],
            "nobody": []}[policy]


def quote_allowed(story: dict[str, Any], requester: str, author_followers: str | None
                  ) -> bool:
    """Whether the built ``story`` lets ``requester`` quote it. ``author_followers``: the
    followers collection of the story's actor when the requester follows that actor here
    (else None). Anything unreadable allows nothing."""
    policy = story.get("interactionPolicy")
    quote = policy.get("canQuote") if isinstance(policy, dict) else None
    approvers = quote.get("automaticApproval") if isinstance(quote, dict) else None
    if not isinstance(approvers, list):
        return False
    return PUBLIC in approvers or requester in approvers or (
        author_followers is not None and author_followers in approvers)


def same_origin(first: str, second: str) -> bool:
    one, two = urlsplit(first), urlsplit(second)
    return one.scheme in ("http", "https") and (one.scheme, one.netloc) == (two.scheme,
                                                                            two.netloc)


def _id(value: Any) -> str | None:
    if isinstance(value, dict):
        value = value.get("id")
    return value if isinstance(value, str) else None


def request_parts(activity: dict[str, Any]) -> tuple[str, str, str, str]:
    """(request id, requester, quoted object, quoting post) of a QuoteRequest, or
    ValueError: the request and the quoting post must come from the requester's origin,
    as Mastodon checks."""
    request, requester = _id(activity), _id(activity.get("actor"))
    target, instrument = _id(activity.get("object")), _id(activity.get("instrument"))
    if not (request and requester and target and instrument):
        raise ValueError("QuoteRequest needs an id, an actor, an object and an instrument")
    if not same_origin(request, requester) or not same_origin(instrument, requester):
        raise ValueError("the request and the quoting post must be on the requester's server")
    return request, requester, target, instrument


def quotes(post: dict[str, Any], requester: str, target: str) -> bool:
    """Whether the fetched quoting ``post`` is the requester's and quotes ``target``."""
    return _id(post.get("attributedTo")) == requester and any(
        _id(post.get(name)) == target for name in QUOTE_PROPERTIES)


def quote_authorization(stamp: str, author: str, instrument: str, target: str
                        ) -> dict[str, Any]:
    """The stamp: ``author`` lets the post ``instrument`` quote the story ``target``."""
    return {"@context": STAMP_CONTEXT, "id": stamp, "type": "QuoteAuthorization",
            "attributedTo": author, "interactingObject": instrument,
            "interactionTarget": target}


def stamp_withdrawal(stamp: str, author: str) -> dict[str, Any]:
    """The ``Delete`` of a stamp that no longer stands, as Mastodon sends it: the quoting
    server then stops showing the quote."""
    return {"@context": AS_CONTEXT, "id": f"{stamp}#delete", "type": "Delete",
            "actor": author, "to": [PUBLIC], "object": stamp}


def quote_answer(kind: str, urls: ApUrls, name: str, request: dict[str, Any],
                 stamp: str | None = None) -> dict[str, Any]:
    """The Accept (naming the stamp as its ``result``) or Reject of a QuoteRequest, from our
    actor ``name``. The request is repeated by its parts, not as received: nothing the
    requester added travels on."""
    request_id, requester, target, instrument = request_parts(request)
    answer: dict[str, Any] = {
        "@context": ANSWER_CONTEXT,
        "id": f"{urls.actor(name)}#{kind.lower()}s/quote_requests/{uuid4()}",
        "type": kind, "actor": urls.actor(name), "to": [requester],
        "object": {"id": request_id, "type": "QuoteRequest", "actor": requester,
                   "object": target, "instrument": instrument}}
    if stamp is not None:
        answer["result"] = stamp
    return answer
