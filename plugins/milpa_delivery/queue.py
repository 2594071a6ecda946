"""The delivery queue: its one owner. Every outgoing activity waits here until delivered.

``queue/ACTIVITY/`` holds ``activity.json`` (the activity and which of our actors sends it),
one ``*.batch`` file per call to ``enqueue`` (the inboxes it added, in one file) and
``journal.jsonl``, an append-only record of what became of each delivery: done, or tried
and due again at some time. A delivery's state is its batch's line, overlaid by its last
journal line. Batches and ``activity.json`` are written atomically (temporary file, fsync,
rename), so queueing an activity for a thousand inboxes costs a few fsyncs, not a thousand.

Journal lines are written with one ``write`` each as soon as a POST is answered, so a
process killed at any moment (kill -9) loses nothing that was written: only a POST that
succeeded in the instant before the kill, whose line was not written yet, is sent again,
with the same activity id (which servers recognise). The journal is synced to disk every
``SYNC_EVERY`` lines, every ``SYNC_SECONDS`` and when the activity is released: a power cut
or a system crash can also resend the deliveries of that last unsynced stretch. A torn last
line (power cut mid-write) is skipped when read.

A process delivers an activity, and writes its journal, only while it holds that
activity's lock (a file lock, released by the system if the process dies), so the inbox
sending its Accepts and `publish.py announce` never send the same activity at once.

A queue written by earlier versions (one ``HASH.inbox`` file per inbox) is still read and
delivered as it was: those files are settled in place, atomically, until none is left.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import uuid
from collections.abc import Collection, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from milpa.state import write_atomically

LOCK = ".lock"
ACTIVITY = "activity.json"
JOURNAL = "journal.jsonl"
BATCH = ".batch"
LEGACY = ".inbox"  # one file per inbox: the format before batches and the journal
SYNC_EVERY = 64  # journal lines written between two fsyncs
SYNC_SECONDS = 0.5  # nor longer than this between two fsyncs while delivering


@dataclass(frozen=True)
class Slot:
    """Where one delivery is recorded: a line of a batch, or an earlier version's file."""

    inbox: str
    batch: str = ""  # the batch file's name; empty for a legacy file
    legacy: Path | None = None


@dataclass
class Journal:
    """Appends to one activity's journal; opened on the first line, synced in batches."""

    path: Path
    descriptor: int | None = None
    unsynced: int = 0
    synced_at: float = field(default_factory=time.monotonic)

    def append(self, record: dict[str, Any]) -> None:
        if self.descriptor is None:
            self.descriptor = self._open()
        os.write(self.descriptor, json.dumps(record, ensure_ascii=False).encode() + b"\n")
        self.unsynced += 1
        if self.unsynced >= SYNC_EVERY or time.monotonic() - self.synced_at > SYNC_SECONDS:
            self.sync()

    def _open(self) -> int:
        new = not self.path.exists()
        descriptor = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        size = os.fstat(descriptor).st_size
        if size:  # a line torn by a power cut must not swallow the next one
            with self.path.open("rb") as journal:
                journal.seek(size - 1)
                if journal.read(1) != b"\n":
                    os.write(descriptor, b"\n")
        if new:  # the file's name must survive a power cut as much as its lines
            folder = os.open(self.path.parent, os.O_RDONLY)
            try:
                os.fsync(folder)
            finally:
                os.close(folder)
        return descriptor

    def sync(self) -> None:
        if self.descriptor is not None and self.unsynced:
            os.fsync(self.descriptor)
        self.unsynced, self.synced_at = 0, time.monotonic()

    def close(self) -> None:
        if self.descriptor is not None:
            self.sync()
            os.close(self.descriptor)
            self.descriptor = None


@dataclass(frozen=True)
class Entry:
    """One queued activity, read while its lock is held."""

    folder: Path
    sender: str  # the name of our actor that sends it
    activity: dict[str, Any]
    items: list[tuple[Slot, dict[str, Any]]]  # (slot, {inbox, attempts, next_try, …})
    journal: Journal
    batches: tuple[Path, ...] = ()  # the batch files read: tidy removes these, no other

    def finish(self, slot: Slot) -> None:
        """The delivery is over (delivered, refused, given up): it is never tried again."""
        if slot.legacy is not None:
            slot.legacy.unlink(missing_ok=True)
        else:
            self.journal.append({"batch": slot.batch, "inbox": slot.inbox, "done": True})

    def postpone(self, slot: Slot, item: dict[str, Any]) -> None:
        """The delivery stays owed, with this state (attempts, next_try, first_try)."""
        if slot.legacy is not None:
            write_atomically(slot.legacy, json.dumps(item).encode())
        else:
            self.journal.append({**item, "batch": slot.batch, "inbox": slot.inbox})


def _hashed(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _journal_lines(path: Path) -> Iterator[dict[str, Any]]:
    try:
        lines = path.read_bytes().splitlines()
    except FileNotFoundError:
        return
    for line in lines:
        try:
            record = json.loads(line)
        except ValueError:
            continue  # torn by a power cut: that delivery is owed as it was before
        if isinstance(record, dict):
            yield record


def _batches(folder: Path) -> tuple[Path, ...]:
    return tuple(sorted(folder.glob(f"*{BATCH}")))


def _items(folder: Path, batches: tuple[Path, ...] | None = None
           ) -> list[tuple[Slot, dict[str, Any]]]:
    """The deliveries still owed in one activity's folder, oldest batch first."""
    latest: dict[tuple[str, str], dict[str, Any]] = {}
    for record in _journal_lines(folder / JOURNAL):
        latest[(record.get("batch", ""), record.get("inbox", ""))] = record
    items: list[tuple[Slot, dict[str, Any]]] = []
    for batch in _batches(folder) if batches is None else batches:
        for inbox in json.loads(batch.read_text(encoding="utf-8"))["inboxes"]:
            record = latest.get((batch.name, inbox), {})
            if record.get("done"):
                continue
            state = {"inbox": inbox, "attempts": 0, "next_try": ""}
            state.update((key, record[key]) for key in ("attempts", "next_try", "first_try")
                         if key in record)
            items.append((Slot(inbox, batch.name), state))
    for path in sorted(folder.glob(f"*{LEGACY}")):
        item = json.loads(path.read_text(encoding="utf-8"))
        items.append((Slot(item["inbox"], legacy=path), item))
    return items


class DeliveryQueue:
    def __init__(self, data_folder: Path) -> None:
        self.root = data_folder / "queue"

    def folder(self, activity_id: str) -> Path:
        return self.root / _hashed(activity_id)

    def enqueue(self, activity: dict[str, Any], sender: str, inboxes: Iterable[str]) -> None:
        """One batch of the inboxes not already waiting for it, then the activity.

        The batch goes first: a folder is delivered (and tidied) only once its
        ``activity.json`` is there, so a kill in between leaves nothing half queued.
        """
        folder = self.folder(activity["id"])
        waiting = {slot.inbox for slot, _ in _items(folder)} if folder.is_dir() else set()
        new = sorted(set(inboxes) - waiting)
        if new:  # named by time, then at random: batches are read in the order queued
            name = f"{time.time_ns():020d}-{uuid.uuid4().hex[:8]}{BATCH}"
            write_atomically(folder / name, json.dumps(
                {"inboxes": new}, ensure_ascii=False).encode())
        queued = json.dumps({"sender": sender, "activity": activity},
                            ensure_ascii=False).encode()
        path = folder / ACTIVITY
        if not path.is_file() or path.read_bytes() != queued:
            write_atomically(path, queued)

    def folders(self, only: Collection[str] | None = None) -> list[Path]:
        """Queued activities: all, or those whose ids are in ``only``."""
        if only is not None:
            return [folder for folder in map(self.folder, sorted(only))
                    if (folder / ACTIVITY).is_file()]
        if not self.root.is_dir():
            return []
        return [folder for folder in sorted(self.root.iterdir())
                if (folder / ACTIVITY).is_file()]

    @staticmethod
    def read(folder: Path) -> Entry:
        queued = json.loads((folder / ACTIVITY).read_text(encoding="utf-8"))
        batches = _batches(folder)
        return Entry(folder, queued["sender"], queued["activity"], _items(folder, batches),
                     Journal(folder / JOURNAL), batches)

    @contextmanager
    def claimed(self, folder: Path) -> Iterator[Entry | None]:
        """The entry, read under its lock; None when another process is delivering it.
        Its journal is synced and closed before the lock is released."""
        lock = FileLock(folder / LOCK, timeout=0)
        try:
            lock.acquire()
        except Timeout:
            yield None
            return
        entry = None
        try:
            entry = self.read(folder) if (folder / ACTIVITY).is_file() else None
            yield entry
        finally:
            if entry is not None:
                entry.journal.close()
            lock.release()

    def tidy(self, folders: Iterable[Path] | None = None) -> None:
        """Remove activities whose every delivery is done (and nobody is delivering): all,
        or those in ``folders`` (a run tidies what it delivered, not the whole queue)."""
        for folder in self.folders() if folders is None else folders:
            with self.claimed(folder) as entry:
                if entry is None or entry.items:
                    continue
                queued = (folder / ACTIVITY).read_bytes()
                (folder / ACTIVITY).unlink()
                # An enqueue does not wait for the lock: a batch it wrote since the read
                # keeps the activity (its own activity.json may have come before the unlink).
                if set(_batches(folder)) - set(entry.batches):
                    write_atomically(folder / ACTIVITY, queued)
                for batch in entry.batches:  # only the batches read as done
                    batch.unlink()
                (folder / JOURNAL).unlink(missing_ok=True)
            try:  # the lock goes last; an activity queued again meanwhile keeps the folder
                (folder / LOCK).unlink(missing_ok=True)
                folder.rmdir()
            except OSError:
                pass

    def pending(self) -> int:
        """Deliveries waiting, in all."""
        return sum(len(_items(folder)) for folder in self.folders())

    def next_try(self, activity_id: str) -> datetime | None:
        """When the earliest waiting delivery of an activity is due; None: all done."""
        folder = self.folder(activity_id)
        times = [item["next_try"] for _, item in _items(folder)] if folder.is_dir() else []
        if not times:
            return None
        return min(datetime.fromisoformat(t) if t else datetime.now(UTC) for t in times)
