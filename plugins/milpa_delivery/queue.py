"""The delivery queue: its one owner. Every outgoing activity waits here until delivered.

``queue/ACTIVITY/activity.json`` holds the activity and which of our actors sends it;
next to it, one small file per inbox still to reach (``HASH.inbox``: the inbox, the tries
so far, when to try next). Each file is written atomically, so a kill at any moment leaves
either the old state or the new one. A delivery removes its inbox file; an activity with
no inbox file left is removed. A process delivers an activity only while it holds that
activity's lock (a file lock, released by the system if the process dies), so the inbox
sending its Accepts and `publish.py announce` never send the same activity at once.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from milpa.state import write_atomically

LOCK = ".lock"


@dataclass(frozen=True)
class Entry:
    """One queued activity, read while its lock is held."""

    folder: Path
    sender: str  # the name of our actor that sends it
    activity: dict[str, Any]
    items: list[tuple[Path, dict[str, Any]]]  # (file, {inbox, attempts, next_try, …})


def _hashed(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:32]


class DeliveryQueue:
    def __init__(self, data_folder: Path) -> None:
        self.root = data_folder / "queue"

    def folder(self, activity_id: str) -> Path:
        return self.root / _hashed(activity_id)

    def enqueue(self, activity: dict[str, Any], sender: str, inboxes: Iterable[str]) -> None:
        """The activity, then one file per inbox not already waiting for it."""
        folder = self.folder(activity["id"])
        write_atomically(folder / "activity.json", json.dumps(
            {"sender": sender, "activity": activity}, ensure_ascii=False).encode())
        for inbox in inboxes:
            target = folder / f"{_hashed(inbox)}.inbox"
            if not target.exists():
                write_atomically(target, json.dumps({"inbox": inbox, "attempts": 0,
                                                     "next_try": ""}).encode())

    def folders(self, only: Collection[str] | None = None) -> list[Path]:
        """Queued activities: all, or those whose ids are in ``only``."""
        if only is not None:
            return [folder for folder in map(self.folder, sorted(only))
                    if (folder / "activity.json").is_file()]
        if not self.root.is_dir():
            return []
        return [folder for folder in sorted(self.root.iterdir())
                if (folder / "activity.json").is_file()]

    @staticmethod
    def read(folder: Path) -> Entry:
        queued = json.loads((folder / "activity.json").read_text(encoding="utf-8"))
        items = [(path, json.loads(path.read_text(encoding="utf-8")))
                 for path in sorted(folder.glob("*.inbox"))]
        return Entry(folder, queued["sender"], queued["activity"], items)

    @contextmanager
    def claimed(self, folder: Path) -> Iterator[Entry | None]:
        """The entry, read under its lock; None when another process is delivering it."""
        lock = FileLock(folder / LOCK, timeout=0)
        try:
            lock.acquire()
        except Timeout:
            yield None
            return
        try:
            yield self.read(folder) if (folder / "activity.json").is_file() else None
        finally:
            lock.release()

    def tidy(self, folders: Iterable[Path] | None = None) -> None:
        """Remove activities whose every delivery is done (and nobody is delivering): all,
        or those in ``folders`` (a run tidies what it delivered, not the whole queue)."""
        for folder in self.folders() if folders is None else folders:
            with self.claimed(folder) as entry:
                if entry is None or entry.items:
                    continue
                (folder / "activity.json").unlink()
            try:  # the lock goes last; an activity queued again meanwhile keeps the folder
                (folder / LOCK).unlink(missing_ok=True)
                folder.rmdir()
            except OSError:
                pass

    def pending(self) -> int:
        """Deliveries waiting, in all."""
        return sum(1 for folder in self.folders() for _ in folder.glob("*.inbox"))

    def next_try(self, activity_id: str) -> datetime | None:
        """When the earliest waiting delivery of an activity is due; None: all done."""
        folder = self.folder(activity_id)
        times = [json.loads(path.read_text(encoding="utf-8"))["next_try"]
                 for path in folder.glob("*.inbox")] if folder.is_dir() else []
        if not times:
            return None
        return min(datetime.fromisoformat(t) if t else datetime.now(UTC) for t in times)
