"""ActivityPub documents as Mastodon reads them, built from plain descriptions.

Pure builders: dataclasses in, dictionaries out. Every id is an absolute URL made by
``ApUrls`` from the site's address, so the same site always gives the same documents.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import uuid4

PUBLIC = "https://www.w3.org/ns/activitystreams#Public"
ACTIVITY_JSON = "application/activity+json"
AS_CONTEXT = "https://www.w3.org/ns/activitystreams"
# The terms Mastodon reads beyond ActivityStreams (see its docs, "ActivityPub").
MASTODON_TERMS = {
    "toot": "http://joinmastodon.org/ns#",
    "schema": "http://schema.org#",
    "manuallyApprovesFollowers": "as:manuallyApprovesFollowers",
    "sensitive": "as:sensitive",
    "Hashtag": "as:Hashtag",
    "alsoKnownAs": {"@id": "as:alsoKnownAs", "@type": "@id"},
    "movedTo": {"@id": "as:movedTo", "@type": "@id"},
    "featured": {"@id": "toot:featured", "@type": "@id"},
    "discoverable": "toot:discoverable",
    "indexable": "toot:indexable",
    "blurhash": "toot:blurhash",
    "PropertyValue": "schema:PropertyValue",
    "value": "schema:value",
}
# Who may quote, reply, like and boost (GoToSocial's terms, which FEP-044f and Mastodon use).
INTERACTION_TERMS = {
    "gts": "https://gotosocial.org/ns#",
    "interactionPolicy": {"@id": "gts:interactionPolicy", "@type": "@id"},
    "canQuote": {"@id": "gts:canQuote", "@type": "@id"},
    "canReply": {"@id": "gts:canReply", "@type": "@id"},
    "canLike": {"@id": "gts:canLike", "@type": "@id"},
    "canAnnounce": {"@id": "gts:canAnnounce", "@type": "@id"},
    "automaticApproval": {"@id": "gts:automaticApproval", "@type": "@id"},
    "manualApproval": {"@id": "gts:manualApproval", "@type": "@id"},
}
ACTOR_CONTEXT = [AS_CONTEXT, "https://w3id.org/security/v1", MASTODON_TERMS]
OBJECT_CONTEXT = [AS_CONTEXT, {**MASTODON_TERMS, **INTERACTION_TERMS}]


class ApUrls:
    """Where every document lives. Ids never change: do not edit these patterns lightly."""

    def __init__(self, base: str) -> None:
        self.base = base.rstrip("/")

    def actor(self, name: str) -> str:
        return f"{self.base}/ap/actors/{name}"

    def key(self, name: str) -> str:
        return f"{self.actor(name)}#main-key"

    def inbox(self, name: str) -> str:
        return f"{self.base}/ap/inboxes/{name}"

    @property
    def shared_inbox(self) -> str:
        return f"{self.base}/ap/inbox"

    def outbox(self, name: str) -> str:
        return f"{self.base}/ap/outboxes/{name}"

    def outbox_page(self, name: str, number: int) -> str:
        return f"{self.base}/ap/outbox-pages/{name}/{number}"

    def followers(self, name: str) -> str:
        return f"{self.base}/ap/followers/{name}"

    def followers_sync(self, name: str) -> str:
        # Served by the inbox process (FEP-8fcf), not the build: it depends on who asks.
        return f"{self.base}/ap/followers-sync/{name}"

    def following(self, name: str) -> str:
        return f"{self.base}/ap/following/{name}"

    def featured(self, name: str) -> str:
        return f"{self.base}/ap/featured/{name}"

    def story(self, lang: str, slug: str) -> str:
        return f"{self.base}/ap/objects/{lang}/{slug}"

    def create(self, lang: str, slug: str) -> str:
        # A fragment of its object, as its Update and Delete are: the Create carries the
        # object whole, and a server that fetches its id gets the object it created.
        return f"{self.story(lang, slug)}#create"

    def announce(self, name: str, lang: str, slug: str) -> str:
        # A fragment of the actor, as Mastodon names its own Likes and Follows: shares are
        # many, and need no document of their own.
        return f"{self.actor(name)}#announces/{lang}/{slug}"

    def replies(self, lang: str, slug: str) -> str:
        # Embedded in the story's document (as Mastodon embeds its first page): a fetch of
        # this id gets the document that holds it, and no file of its own is written.
        return f"{self.story(lang, slug)}#replies"

    def stamp(self, actor_part: str, stamp_part: str) -> str:
        """A quote stamp (FEP-044f), served by the inbox process (milpa.stamps names it)."""
        return f"{self.base}/ap/stamps/{actor_part}/{stamp_part}"

    def path_of(self, url: str) -> str:
        """The output file of a document: its URL's path, without the leading slash."""
        return url.removeprefix(self.base).lstrip("/")


@dataclass(frozen=True)
class Media:
    """A published file: photo rendition, video or avatar."""

    url: str
    media_type: str
    width: int
    height: int
    name: str = ""  # alt text
    blurhash: str | None = None


@dataclass(frozen=True)
class ActorProfile:
    name: str  # preferredUsername: the part before @ in @name@host
    display_name: str
    summary: str  # HTML
    type: str  # Person, Group, Organization, Service or Application
    page_url: str  # the actor's HTML page
    published: datetime
    icon: Media | None = None
    image: Media | None = None
    links: tuple[tuple[str, str], ...] = ()  # (label, URL) shown on the profile
    also_known_as: tuple[str, ...] = ()
    manually_approves_followers: bool = False
    discoverable: bool = True
    indexable: bool = True
    moved_to: str | None = None  # the account this one moved to


@dataclass(frozen=True)
class StoryPost:
    """A story as the Fediverse sees it."""

    lang: str
    slug: str
    title: str
    url: str  # the HTML page
    attributed_to: str  # actor id
    content: str  # sanitised HTML, absolute links
    published: datetime
    updated: datetime | None
    content_warning: str
    tags: tuple[tuple[str, str], ...]  # (name without #, tag page URL)
    attachments: tuple[Media, ...]
    audience: tuple[str, ...]  # followers collections to cc
    summary: str  # plain text, for an Article's preview
    # Who may quote it without asking (milpa.quotes.quote_approval); None: its author only.
    quote_approvers: tuple[str, ...] | None = None
    replies: tuple[str, ...] = ()  # ids of the replies an editor approved


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")


def _image(media: Media) -> dict[str, Any]:
    return {"type": "Image", "mediaType": media.media_type, "url": media.url}


def actor_document(profile: ActorProfile, urls: ApUrls, public_key_pem: str) -> dict[str, Any]:
    name = profile.name
    document: dict[str, Any] = {
        "@context": ACTOR_CONTEXT,
        "id": urls.actor(name),
        "type": profile.type,
        "preferredUsername": name,
        "name": profile.display_name,
        "summary": profile.summary,
        "url": profile.page_url,
        "inbox": urls.inbox(name),
        "outbox": urls.outbox(name),
        "followers": urls.followers(name),
        "following": urls.following(name),
        "featured": urls.featured(name),
        "endpoints": {"sharedInbox": urls.shared_inbox},
        "publicKey": {"id": urls.key(name), "owner": urls.actor(name),
                      "publicKeyPem": public_key_pem},
        "manuallyApprovesFollowers": profile.manually_approves_followers,
        "discoverable": profile.discoverable,
        "indexable": profile.indexable,
        "published": _iso(profile.published),
        "alsoKnownAs": list(profile.also_known_as),
        "attachment": [
            {"type": "PropertyValue", "name": label,
             "value": f'<a href="{url}" rel="me nofollow noopener" target="_blank">{url}</a>'}
            for label, url in profile.links
        ],
    }
    if profile.moved_to:
        document["movedTo"] = profile.moved_to
    if profile.icon:
        document["icon"] = _image(profile.icon)
    if profile.image:
        document["image"] = _image(profile.image)
    return document


def _attachment(media: Media) -> dict[str, Any]:
    kind = "Image" if media.media_type.startswith("image/") else "Document"
    attachment = {"type": kind, "mediaType": media.media_type, "url": media.url,
                  "name": media.name, "width": media.width, "height": media.height}
    if media.blurhash:
        attachment["blurhash"] = media.blurhash
    return attachment


def hashtag_name(tag: str) -> str:
    """``land defence`` → ``#LandDefence``: Mastodon's hashtags are letters and digits."""
    words = [word for word in tag.replace("-", " ").replace("_", " ").split() if word]
    if len(words) == 1:
        return f"#{words[0]}"
    return "#" + "".join(word[:1].upper() + word[1:] for word in words)


def object_type_for(configured: str, content_warning: str) -> str:
    """The type a story goes out as. Mastodon turns an ``Article`` into its title and link
    and shows its ``summary`` as body text, never as a warning: a story with a content
    warning goes out as a ``Note``, whose ``summary`` Mastodon hides the story behind."""
    return "Note" if content_warning else configured


def interaction_policy(quote_approvers: list[str]) -> dict[str, Any]:
    """What a story declares (FEP-044f; GoToSocial's ``interactionPolicy``). Quotes: by its
    policy. Replies, likes and boosts: anyone, with no approval asked, because that is what
    happens: the inbox keeps every reply (held until an editor shows it on the site: our
    moderation, not GoToSocial's approval protocol, which Milpa does not speak) and counts
    every like and boost. ``manualApproval`` would have servers wait for an answer that
    never comes."""
    anyone = {"automaticApproval": [PUBLIC]}
    return {"canQuote": {"automaticApproval": list(quote_approvers)},
            "canReply": anyone, "canLike": anyone, "canAnnounce": anyone}


def replies_collection(collection_id: str, items: list[str]) -> dict[str, Any]:
    """A story's approved replies, embedded in its document (no ``@context`` of its own)."""
    return {"id": collection_id, "type": "OrderedCollection", "totalItems": len(items),
            "orderedItems": items}


def story_object(post: StoryPost, urls: ApUrls, object_type: str = "Note") -> dict[str, Any]:
    """A ``Note`` (Mastodon shows all of it) or an ``Article`` with a ``preview`` Note."""
    document: dict[str, Any] = {
        "@context": OBJECT_CONTEXT,
        "id": urls.story(post.lang, post.slug),
        "type": object_type,
        "attributedTo": post.attributed_to,
        "url": post.url,
        "published": _iso(post.published),
        "to": [PUBLIC],
        "cc": list(post.audience),
        "content": post.content,
        "contentMap": {post.lang: post.content},
        "sensitive": bool(post.content_warning),
        "tag": [{"type": "Hashtag", "name": hashtag_name(name), "href": href}
                for name, href in post.tags],
        "attachment": [_attachment(media) for media in post.attachments],
        "replies": replies_collection(urls.replies(post.lang, post.slug), list(post.replies)),
        "interactionPolicy": interaction_policy(
            [post.attributed_to] if post.quote_approvers is None else list(post.quote_approvers)),
    }
    if post.updated and post.updated != post.published:
        document["updated"] = _iso(post.updated)
    # Mastodon shows `summary` as a content warning: only a warning goes there.
    if post.content_warning:
        document["summary"] = post.content_warning
    if object_type == "Article":
        document["name"] = post.title
        document["preview"] = {
            "type": "Note", "attributedTo": post.attributed_to,
            "content": f"<p>{post.summary}</p><p><a href=\"{post.url}\">{post.url}</a></p>",
        }
    return document


def without_context(document: dict[str, Any]) -> dict[str, Any]:
    """A document as embedded in another, which carries the ``@context``."""
    return {key: value for key, value in document.items() if key != "@context"}


def create_activity(story: dict[str, Any], urls: ApUrls, lang: str, slug: str
                    ) -> dict[str, Any]:
    return {
        "@context": OBJECT_CONTEXT,
        "id": urls.create(lang, slug),
        "type": "Create",
        "actor": story["attributedTo"],
        "published": story["published"],
        "to": story["to"],
        "cc": story["cc"],
        "object": without_context(story),
    }


def shared_story(story_id: str, published: datetime, attributed_to: str) -> dict[str, Any]:
    """What an ``Announce`` takes of a story's document (``story_object``)."""
    return {"id": story_id, "published": _iso(published), "attributedTo": attributed_to}


def announce_activity(actor_name: str, story: dict[str, Any], urls: ApUrls, lang: str,
                      slug: str) -> dict[str, Any]:
    """How a site or territory actor shares a story that an author wrote (FEP-1b12)."""
    return {
        "@context": AS_CONTEXT,
        "id": urls.announce(actor_name, lang, slug),
        "type": "Announce",
        "actor": urls.actor(actor_name),
        "published": story["published"],
        "to": [PUBLIC],
        "cc": [urls.followers(actor_name), story["attributedTo"]],
        "object": story["id"],
    }


def ordered_collection(collection_id: str, total: int, *, first: str | None = None,
                       last: str | None = None, items: list[Any] | None = None
                       ) -> dict[str, Any]:
    document: dict[str, Any] = {"@context": AS_CONTEXT, "id": collection_id,
                                "type": "OrderedCollection", "totalItems": total}
    if first:
        document["first"] = first
    if last:
        document["last"] = last
    if items is not None:
        document["orderedItems"] = items
    return document


def collection_page(page_id: str, part_of: str, items: list[Any], *, next_page: str | None,
                    previous_page: str | None) -> dict[str, Any]:
    document: dict[str, Any] = {"@context": OBJECT_CONTEXT, "id": page_id,
                                "type": "OrderedCollectionPage", "partOf": part_of,
                                "orderedItems": items}
    if next_page:
        document["next"] = next_page
    if previous_page:
        document["prev"] = previous_page
    return document


def page_ranges(count: int, page_size: int) -> list[range]:
    """Which items of a newest-first list each page holds, page 1 first. Pages are cut
    from the oldest item, so page 1 holds the oldest: a new item changes the newest page
    alone (and, when it starts a page, the "prev" link of the page before)."""
    return [range(max(count - bottom - page_size, 0), count - bottom)
            for bottom in range(0, count, page_size)] or [range(0)]


def paged_collection(collection_id: str, page_url: Any, items: list[Any], page_size: int
                     ) -> list[dict[str, Any]]:
    """The collection and its pages (``page_ranges``): ``page_url(n)`` names page n, and
    the collection's ``first`` is the newest page, each page's ``next`` the older one."""
    pages = page_ranges(len(items), page_size)
    documents = [ordered_collection(collection_id, len(items), first=page_url(len(pages)),
                                    last=page_url(1))]
    for number, indexes in enumerate(pages, 1):
        documents.append(collection_page(
            page_url(number), collection_id, [items[index] for index in indexes],
            next_page=page_url(number - 1) if number > 1 else None,
            previous_page=page_url(number + 1) if number < len(pages) else None))
    return documents


def to_json(document: dict[str, Any]) -> bytes:
    """Stable bytes: sorted keys, UTF-8, no timestamps of our own.

    Not indented: only then does ``json`` use its C encoder, and thousands are written.
    """
    return (json.dumps(document, sort_keys=True, ensure_ascii=False) + "\n").encode()


def follow_answer(kind: str, urls: ApUrls, name: str, follow: dict[str, Any]
                  ) -> dict[str, Any]:
    """The Accept or Reject of a Follow, from our actor ``name``."""
    return {"@context": AS_CONTEXT, "id": f"{urls.actor(name)}#{kind.lower()}s/{uuid4()}",
            "type": kind, "actor": urls.actor(name), "object": follow}


def move_activity(urls: ApUrls, name: str, target: str) -> dict[str, Any]:
    """The Move Mastodon expects: the actor moves itself, to an account that names it."""
    digest = hashlib.sha256(target.encode()).hexdigest()[:16]
    actor = urls.actor(name)
    return {"@context": AS_CONTEXT,
            "id": f"{actor}#moves/{digest}", "type": "Move", "actor": actor,
            "object": actor, "target": target}
