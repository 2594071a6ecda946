"""The quote stamps the inbox gave (FEP-044f ``QuoteAuthorization``): their one owner.

``quote-stamps/ACTOR/STAMP.json``: ACTOR is a digest of the quoting actor, STAMP a digest
of the quoting post and the story, so asking again for the same quote gives the same stamp
and one folder listing counts an actor's stamps (capped, so one account cannot fill the
disk). Each file is written atomically, the count and the write under a file lock.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path

from filelock import FileLock

from .state import write_atomically

DIGEST = re.compile(r"[0-9a-f]{32}")


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:32]


@dataclass(frozen=True)
class Stamp:
    requester: str  # the quoting actor
    instrument: str  # the quoting post
    target: str  # our story's id
    author: str  # our actor that gave it

    @property
    def parts(self) -> tuple[str, str]:
        """The two path parts that name it, in its file and its URL."""
        return digest(self.requester), digest(f"{self.instrument}\n{self.target}")


class StampStore:
    def __init__(self, data_folder: Path) -> None:
        self.root = data_folder / "quote-stamps"

    def _file(self, actor_part: str, stamp_part: str) -> Path | None:
        """The file of a stamp, only for names that are digests (they come from URLs)."""
        if not (DIGEST.fullmatch(actor_part) and DIGEST.fullmatch(stamp_part)):
            return None
        return self.root / actor_part / f"{stamp_part}.json"

    def save(self, stamp: Stamp, per_actor: int) -> bool:
        """Keep ``stamp``; False (and nothing written) when its actor already holds
        ``per_actor`` others."""
        actor_part, stamp_part = stamp.parts
        path = self.root / actor_part / f"{stamp_part}.json"
        self.root.mkdir(parents=True, exist_ok=True)
        with FileLock(self.root / f".{actor_part}.lock", timeout=30):
            if not path.exists():
                folder = path.parent
                held = sum(1 for p in folder.glob("*.json")) if folder.is_dir() else 0
                if held >= per_actor:
                    return False
            write_atomically(path, json.dumps(asdict(stamp), sort_keys=True,
                                              ensure_ascii=False).encode())
        return True

    def read(self, actor_part: str, stamp_part: str) -> Stamp | None:
        path = self._file(actor_part, stamp_part)
        if path is None or not path.is_file():
            return None
        return Stamp(**json.loads(path.read_text(encoding="utf-8")))
