"""The plain files in the data folder: the one module that reads and writes them.

Each follower is one small JSON file, ``followers/ACTOR/HASH.json``: recording or removing
one touches one file, written atomically (temporary file, fsync, rename), so the inbox, the
moderation command and the build can work at the same time and a crash loses nothing.
Changes that read before they write (a ``Move``) hold a file lock.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from filelock import FileLock


def write_atomically(path: Path, data: bytes) -> None:
    """Readers see the old file or the new one, never half of one, even after a crash."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        Path(temporary).replace(path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)  # the rename itself survives a power cut
    finally:
        os.close(folder)


@dataclass(frozen=True)
class Follower:
    id: str  # the follower's actor id
    inbox: str
    shared_inbox: str | None
    since: str  # ISO 8601, when the follow was accepted
    follow_id: str | None = None  # the Follow activity, which Undo names
    acct: str | None = None  # user@host, as other servers' import tools want it

    @property
    def server(self) -> str:
        return self.id.split("/")[2] if "://" in self.id else self.id


@dataclass(frozen=True)
class FollowRequest:
    """A Follow waiting for an editor, with the activity to answer."""

    actor: str  # ours
    follower: Follower
    activity: dict[str, Any]


@dataclass(frozen=True)
class Reply:
    """A reply from the Fediverse to one of our stories, as received (HTML untrusted)."""

    id: str
    story: str  # LANG/SLUG of the story it answers
    actor: str
    author_name: str
    author_handle: str
    author_url: str
    url: str
    published: str
    content: str
    status: str = "held"  # held, approved or rejected


class DataStore:
    def __init__(self, folder: Path) -> None:
        self.folder = folder

    @contextmanager
    def locked(self, name: str) -> Iterator[None]:
        locks = self.folder / ".locks"
        locks.mkdir(parents=True, exist_ok=True)
        with FileLock(locks / f"{name}.lock", timeout=30):
            yield

    def _follower_file(self, actor: str, follower_id: str) -> Path:
        digest = hashlib.sha256(follower_id.encode()).hexdigest()[:32]
        return self.folder / "followers" / actor / f"{digest}.json"

    def record_follower(self, actor: str, follower: Follower) -> None:
        data = json.dumps(asdict(follower), sort_keys=True, ensure_ascii=False).encode()
        write_atomically(self._follower_file(actor, follower.id), data)

    def remove_follower(self, actor: str, follower_id: str) -> bool:
        """True when the follower was there."""
        try:
            self._follower_file(actor, follower_id).unlink()
        except FileNotFoundError:
            return False
        return True

    def is_follower(self, actor: str, follower_id: str) -> bool:
        return self._follower_file(actor, follower_id).is_file()

    def followers(self, actor: str) -> list[Follower]:
        folder = self.folder / "followers" / actor
        found = []
        for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
            data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
            found.append(Follower(**data))
        return found

    def follower_count(self, actor: str) -> int:
        folder = self.folder / "followers" / actor
        return sum(1 for _ in folder.glob("*.json")) if folder.is_dir() else 0

    def actors_with_followers(self) -> list[str]:
        folder = self.folder / "followers"
        return sorted(p.name for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []

    def actors_followed_by(self, follower_id: str) -> list[str]:
        return [actor for actor in self.actors_with_followers()
                if self.is_follower(actor, follower_id)]

    # Follow requests, when actors approve their followers by hand.

    def _request_file(self, actor: str, follower_id: str) -> Path:
        digest = hashlib.sha256(follower_id.encode()).hexdigest()[:32]
        return self.folder / "follow-requests" / actor / f"{digest}.json"

    def save_follow_request(self, request: FollowRequest) -> None:
        data = json.dumps(asdict(request), sort_keys=True, ensure_ascii=False).encode()
        write_atomically(self._request_file(request.actor, request.follower.id), data)

    def follow_requests(self) -> list[FollowRequest]:
        found = []
        for path in sorted((self.folder / "follow-requests").glob("*/*.json")):
            data = json.loads(path.read_text(encoding="utf-8"))
            found.append(FollowRequest(data["actor"], Follower(**data["follower"]),
                                       data["activity"]))
        return found

    def remove_follow_request(self, request: FollowRequest) -> None:
        self._request_file(request.actor, request.follower.id).unlink(missing_ok=True)

    def request_short_id(self, request: FollowRequest) -> str:
        return self._request_file(request.actor, request.follower.id).stem[:8]

    # Replies to stories, held until an editor approves them; likes and boosts.

    def _reply_file(self, story: str, reply_id: str) -> Path:
        digest = hashlib.sha256(reply_id.encode()).hexdigest()[:32]
        return self.folder / "replies" / story / f"{digest}.json"

    def short_id(self, reply: Reply) -> str:
        """Eight characters an editor can type to name a reply."""
        return self._reply_file(reply.story, reply.id).stem[:8]

    def save_reply(self, reply: Reply) -> None:
        data = json.dumps(asdict(reply), sort_keys=True, ensure_ascii=False).encode()
        write_atomically(self._reply_file(reply.story, reply.id), data)

    def find_reply(self, reply_id: str) -> Reply | None:
        """A reply by its ActivityPub id (or the start of its file name, for editors)."""
        for path in (self.folder / "replies").glob("*/*/*.json"):
            reply = Reply(**json.loads(path.read_text(encoding="utf-8")))
            if reply.id == reply_id or path.stem.startswith(reply_id):
                return reply
        return None

    def remove_reply(self, reply: Reply) -> None:
        self._reply_file(reply.story, reply.id).unlink(missing_ok=True)

    def replies(self, story: str | None = None, status: str | None = None) -> list[Reply]:
        pattern = f"{story}/*.json" if story else "*/*/*.json"
        found = [Reply(**json.loads(p.read_text(encoding="utf-8")))
                 for p in (self.folder / "replies").glob(pattern)]
        return sorted((r for r in found if status is None or r.status == status),
                      key=lambda reply: (reply.published, reply.id))

    def _reaction_file(self, kind: str, story: str, actor: str) -> Path:
        digest = hashlib.sha256(actor.encode()).hexdigest()[:32]
        return self.folder / kind / story / f"{digest}.json"

    def record_reaction(self, kind: str, story: str, actor: str, activity_id: str) -> None:
        """A like or a boost (``kind``: likes, boosts), once per actor and story."""
        data = json.dumps({"actor": actor, "activity": activity_id}, sort_keys=True).encode()
        write_atomically(self._reaction_file(kind, story, actor), data)

    def remove_reaction(self, kind: str, story: str, actor: str) -> None:
        self._reaction_file(kind, story, actor).unlink(missing_ok=True)

    def reaction_count(self, kind: str, story: str) -> int:
        folder = self.folder / kind / story
        return sum(1 for _ in folder.glob("*.json")) if folder.is_dir() else 0

    # What followers were told (the announce ledger); the queue is milpa_delivery.queue's.

    def ledger(self) -> dict[str, Any]:
        """Ledger entries (as dicts) by key: LANG/SLUG for stories, actors/NAME for actors."""
        root = self.folder / "ledger"
        return {path.relative_to(root).with_suffix("").as_posix():
                json.loads(path.read_text(encoding="utf-8"))
                for path in sorted(root.rglob("*.json"))} if root.is_dir() else {}

    def record_ledger(self, key: str, entry: dict[str, Any]) -> None:
        write_atomically(self.folder / "ledger" / f"{key}.json",
                         json.dumps(entry, sort_keys=True, ensure_ascii=False).encode())

    def record_move(self, actor: str, target: str) -> None:
        """Our actor ``actor`` has moved to ``target``: builds say so (movedTo)."""
        write_atomically(self.folder / "moved" / f"{actor}.json", json.dumps(
            {"to": target, "since": datetime.now(UTC).isoformat(timespec="seconds")}).encode())

    def moved_to(self, actor: str) -> str | None:
        path = self.folder / "moved" / f"{actor}.json"
        return json.loads(path.read_text())["to"] if path.is_file() else None

    def mark_imported(self, key: str) -> None:
        """A story brought from an archive (LANG/SLUG): announce records it without sending."""
        write_atomically(self.folder / "imported" / f"{key}.json", b"{}")

    def imported_keys(self) -> set[str]:
        root = self.folder / "imported"
        return {p.relative_to(root).with_suffix("").as_posix() for p in root.rglob("*.json")} \
            if root.is_dir() else set()

    def mark_available(self, host: str, answered: bool) -> None:
        """Hosts that stopped answering, since when: `followers` and people can see them."""
        marker = self.folder / "unavailable" / f"{host.replace(':', '_')}.json"
        if answered:
            marker.unlink(missing_ok=True)
        elif not marker.exists():
            write_atomically(marker, json.dumps({"host": host, "since": datetime.now(
                UTC).isoformat(timespec="seconds")}).encode())

    def unavailable_hosts(self) -> list[dict[str, str]]:
        folder = self.folder / "unavailable"
        return [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))] \
            if folder.is_dir() else []

    def remove_followers_at(self, inbox: str) -> int:
        """Followers whose inbox (or shared inbox) is ``inbox`` go; how many went."""
        removed = 0
        for actor in self.actors_with_followers():
            for follower in self.followers(actor):
                if inbox in (follower.inbox, follower.shared_inbox):
                    removed += self.remove_follower(actor, follower.id)
        return removed

    # Blocks: domains and actors refused before anything is stored.

    @property
    def _blocks_file(self) -> Path:
        return self.folder / "blocks.json"

    def blocks(self) -> dict[str, list[str]]:
        if not self._blocks_file.is_file():
            return {"domains": [], "actors": []}
        data = json.loads(self._blocks_file.read_text(encoding="utf-8"))
        return {"domains": list(data.get("domains", [])), "actors": list(data.get("actors", []))}

    def add_blocks(self, domains: Iterable[str] = (), actors: Iterable[str] = ()
                   ) -> dict[str, list[str]]:
        """Add blocks, and remove every follower they cover. Returns the blocks now in force."""
        with self.locked("blocks"):
            current = self.blocks()
            merged = {"domains": sorted({*current["domains"], *(d.lower() for d in domains)}),
                      "actors": sorted({*current["actors"], *actors})}
            write_atomically(self._blocks_file, json.dumps(merged, indent=1).encode())
        for actor in self.actors_with_followers():
            for follower in self.followers(actor):
                if is_blocked(follower.id, merged):
                    self.remove_follower(actor, follower.id)
        return merged


def is_blocked(actor_id: str, blocks: dict[str, list[str]]) -> bool:
    """Blocked by actor id, or by domain (a blocked domain covers its subdomains)."""
    if actor_id in blocks["actors"]:
        return True
    host = urlsplit(actor_id).hostname or ""
    return any(host == domain or host.endswith(f".{domain}") for domain in blocks["domains"])
