"""The plain files in the data folder: the one module that reads and writes them.

Each follower is one small JSON file, ``followers/ACTOR/HASH.json``: recording or removing
one touches one file, written atomically (temporary file, fsync, rename), so the inbox, the
moderation command and the build can work at the same time and a crash loses nothing.
Changes that read before they write (a ``Move``) hold a file lock. ``.index/`` holds what
can be made again from the rest (each actor's followers in one file, for announce).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import tempfile
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import MISSING, asdict, dataclass, fields, replace
from datetime import UTC, datetime
from glob import escape as glob_escape
from pathlib import Path
from typing import Any

from filelock import FileLock

from .blocks import is_blocked, normal_blocks
from .bridge import Bridging
from .replies import Reply, reply_record, story_key

logger = logging.getLogger(__name__)
_SHORT_ID = re.compile(r"[0-9a-f]{4,32}")  # what `moderate` shows, or the start of it
# Files younger than this are not trusted to an index (file times are coarser than ns).
_RACY_NS = 2_000_000_000


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


_FOLLOWER_FIELDS = frozenset(f.name for f in fields(Follower))
_FOLLOWER_NEEDS = frozenset(f.name for f in fields(Follower) if f.default is MISSING)


@dataclass(frozen=True)
class FollowRequest:
    """A Follow waiting for an editor, with the activity to answer."""

    actor: str  # ours
    follower: Follower
    activity: dict[str, Any]


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
        """Every follower of ``actor``. What each file said is kept in one index file,
        by the file's name, size and time: announce reads only the follower files that
        changed since, instead of 10,000."""
        folder = self.folder / "followers" / actor
        try:
            with os.scandir(folder) as entries:
                files = sorted((entry.name, entry.stat()) for entry in entries
                               if entry.name.endswith(".json") and not entry.name.startswith(".")
                               and entry.is_file())
        except (FileNotFoundError, NotADirectoryError):
            return []
        index_file = self.folder / ".index" / "followers" / f"{actor}.json"
        index = _read_index(index_file)
        # A file changed less than a clock tick ago may change again with the same time
        # and size: it is read every time until it is older ("racy git").
        settled = time.time_ns() - _RACY_NS
        found, kept = [], {}
        for name, stat in files:
            stamp = [stat.st_size, stat.st_mtime_ns]
            known = index.get(name)
            data = known[1] if known and known[0] == stamp else \
                json.loads((folder / name).read_bytes())
            found.append(Follower(**data))
            if stat.st_mtime_ns < settled:
                kept[name] = [stamp, data]
        if kept != index:
            write_atomically(index_file, json.dumps(kept, ensure_ascii=False).encode())
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
    # replies/STORY/HASH.json holds a reply (the build reads one story's folder);
    # reply-index/HASH names its story, so the inbox finds a reply by id without scanning;
    # reply-held/ACTOR.HASH marks the held ones, so their caps are counted in one folder.

    def _reply_file(self, story: str, reply_id: str) -> Path:
        return self.folder / "replies" / story / f"{_digest(reply_id)}.json"

    def _reply_index(self, digest: str) -> Path:
        return self.folder / "reply-index" / digest

    def _held_marker(self, reply: Reply) -> Path:
        return self.folder / "reply-held" / f"{_digest(reply.actor)[:16]}.{_digest(reply.id)}"

    def short_id(self, reply: Reply) -> str:
        """Eight characters an editor can type to name a reply."""
        return _digest(reply.id)[:8]

    def save_reply(self, reply: Reply) -> None:
        """Write the reply and its index entry; a reply that moved story leaves the old one."""
        digest = _digest(reply.id)
        index = self._reply_index(digest)
        before = index.read_text(encoding="utf-8") if index.is_file() else None
        data = json.dumps(asdict(reply), sort_keys=True, ensure_ascii=False).encode()
        write_atomically(self._reply_file(reply.story, reply.id), data)
        if before != reply.story:
            write_atomically(index, reply.story.encode())
            if before is not None and story_key(before):
                self._reply_file(before, reply.id).unlink(missing_ok=True)
        marker = self._held_marker(reply)
        if reply.status == "held":
            if not marker.exists():
                write_atomically(marker, b"")
        else:
            marker.unlink(missing_ok=True)

    def hold_reply(self, reply: Reply, per_actor: int, total: int) -> str | None:
        """Save ``reply`` as held unless that puts its actor or everyone over their cap of
        held replies; returns why it was not saved, or None."""
        held = replace(reply, status="held")
        with self.locked("replies"):
            if not self._held_marker(held).exists():
                if self.held_count(reply.actor) >= per_actor:
                    return f"{per_actor} replies of this actor already held"
                if self.held_count() >= total:
                    return f"{total} replies already held"
            self.save_reply(held)
        return None

    def held_count(self, actor: str | None = None) -> int:
        """Held replies, of one actor or of everyone: one folder listed, no file read."""
        folder = self.folder / "reply-held"
        if not folder.is_dir():
            return 0
        prefix = f"{_digest(actor)[:16]}." if actor else ""
        with os.scandir(folder) as entries:
            return sum(1 for entry in entries if entry.name.startswith(prefix)
                       and not entry.name.startswith("."))  # "." starts a file being written

    def find_reply(self, reply_id: str) -> Reply | None:
        """A reply by its ActivityPub id, or by the start of its short id (for editors)."""
        self._index_replies_once()
        if _SHORT_ID.fullmatch(reply_id):
            matches = list((self.folder / "reply-index").glob(f"{reply_id}*"))
            index = matches[0] if len(matches) == 1 else None
        else:
            index = self._reply_index(_digest(reply_id))
        if index is None or not index.is_file():
            return None
        story = story_key(index.read_text(encoding="utf-8"))
        found = self._read_reply(self.folder / "replies" / story / f"{index.name}.json") \
            if story else None
        return found if found is not None and (found.id == reply_id or
                                               index.name.startswith(reply_id)) else None

    def _index_replies_once(self) -> None:
        """Data folders from before the index get one, the first time a reply is looked up."""
        if (self.folder / "reply-index").is_dir() or not (self.folder / "replies").is_dir():
            return
        with self.locked("replies"):
            for reply in self.replies():
                self.save_reply(reply)
            (self.folder / "reply-index").mkdir(exist_ok=True)

    def remove_reply(self, reply: Reply) -> None:
        self._reply_file(reply.story, reply.id).unlink(missing_ok=True)
        self._held_marker(reply).unlink(missing_ok=True)
        self._reply_index(_digest(reply.id)).unlink(missing_ok=True)

    def replies(self, story: str | None = None, status: str | None = None) -> list[Reply]:
        """Replies (of one story), oldest first; a file that is not a valid reply is skipped
        with a warning naming it, so one bad record never stops a build."""
        if story is not None and story_key(story) is None:
            return []
        pattern = f"{story}/*.json" if story else "*/*/*.json"
        found = [self._read_reply(path) for path in (self.folder / "replies").glob(pattern)]
        return sorted((r for r in found if r is not None and status in (None, r.status)),
                      key=lambda reply: (reply.published, reply.id))

    def _read_reply(self, path: Path) -> Reply | None:
        try:
            reply = reply_record(json.loads(path.read_text(encoding="utf-8")))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as error:  # JSONDecodeError and UnicodeError included
            logger.warning("skipping the reply in %s: %s", path, error)
            return None
        if path.parent.relative_to(self.folder / "replies").as_posix() != reply.story:
            logger.warning("skipping the reply in %s: it names another story", path)
            return None
        return reply

    def _reaction_file(self, kind: str, story: str, actor: str) -> Path:
        digest = hashlib.sha256(actor.encode()).hexdigest()[:32]
        return self.folder / kind / story / f"{digest}.json"

    def record_reaction(self, kind: str, story: str, actor: str, activity_id: str) -> None:
        """A like or a boost (``kind``: likes, boosts), once per actor and story."""
        data = json.dumps({"actor": actor, "activity": activity_id}, sort_keys=True).encode()
        write_atomically(self._reaction_file(kind, story, actor), data)

    def remove_reaction(self, kind: str, story: str, actor: str) -> None:
        self._reaction_file(kind, story, actor).unlink(missing_ok=True)

    def ids_of_story(self, lang: str, slug: str) -> list[str]:
        """Every LANG/SLUG key a story has had replies or reactions under: its first id and
        the ids it took when it came back after a Delete (SLUG.1, SLUG.2…)."""
        keys = {f"{lang}/{slug}"}
        for kind in ("replies", "likes", "boosts"):
            folder = self.folder / kind / lang
            if not folder.is_dir():  # usual: nothing received yet (glob would still compile)
                continue
            keys.update(f"{lang}/{path.name}" for path in folder.glob(f"{glob_escape(slug)}.*")
                        if path.name[len(slug) + 1:].isdigit())
        return sorted(keys)

    def stories_with_records(self) -> frozenset[str]:
        """The LANG/SLUG of every story with replies or reactions under any of its ids
        (SLUG, SLUG.1…): one listing per language folder, so that a build asks nothing
        about the stories nobody answered."""
        found: set[str] = set()
        for kind in ("replies", "likes", "boosts"):
            base = self.folder / kind
            if not base.is_dir():
                continue
            for lang in os.scandir(base):
                if not lang.is_dir():
                    continue
                for story in os.scandir(lang.path):
                    found.add(f"{lang.name}/{story.name}")
                    # SLUG.N belongs to SLUG too (ids_of_story), and may be a slug itself.
                    first, _, number = story.name.rpartition(".")
                    if first and number.isdigit():
                        found.add(f"{lang.name}/{first}")
        return frozenset(found)

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
            merged = normal_blocks([*current["domains"], *domains],
                                   [*current["actors"], *actors])
            write_atomically(self._blocks_file, json.dumps(merged, indent=1).encode())
        for actor in self.actors_with_followers():
            for follower in self.followers(actor):
                if is_blocked(follower.id, merged):
                    self.remove_follower(actor, follower.id)
        return merged

    # The Bluesky bridge: each actor's opt-in (milpa.bridge), one file per actor.

    def _bridge_file(self, actor: str) -> Path:
        return self.folder / "bridge" / f"{actor}.json"

    def record_bridging(self, actor: str, bridging: Bridging) -> None:
        write_atomically(self._bridge_file(actor), json.dumps(
            asdict(bridging), sort_keys=True, ensure_ascii=False).encode())

    def bridging(self, actor: str) -> Bridging | None:
        path = self._bridge_file(actor)
        return Bridging.from_record(json.loads(path.read_text(encoding="utf-8"))) \
            if path.is_file() else None

    def bridgings(self) -> dict[str, Bridging]:
        """Every actor that ever opted in, by name."""
        folder = self.folder / "bridge"
        return {path.stem: Bridging.from_record(json.loads(path.read_text(encoding="utf-8")))
                for path in sorted(folder.glob("*.json"))} if folder.is_dir() else {}

    # The take-down's record (milpa.takedown): while it exists, the site is gone.

    @property
    def _take_down_file(self) -> Path:
        return self.folder / "take-down.json"

    def take_down(self) -> dict[str, Any] | None:
        if not self._take_down_file.is_file():
            return None
        return json.loads(self._take_down_file.read_text(encoding="utf-8"))

    def record_take_down(self, record: dict[str, Any]) -> None:
        write_atomically(self._take_down_file,
                         json.dumps(record, indent=1, ensure_ascii=False).encode())


def _read_index(path: Path) -> dict[str, Any]:
    """An index of files read before (name → [[size, time], data]); empty when missing
    or not one: it is made again from the files."""
    try:
        index = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return {}
    if not isinstance(index, dict):
        return {}
    return {name: entry for name, entry in index.items()
            if isinstance(entry, list) and len(entry) == 2 and isinstance(entry[1], dict)
            and _FOLLOWER_FIELDS.issuperset(entry[1]) and _FOLLOWER_NEEDS.issubset(entry[1])}


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:32]
