"""Files written by a process of their own, in the order they were handed over, while the
build renders the next pages.

Making a file and its folder costs the system 0.1–1 ms on the disks measured, a good part
of what rendering the page costs; a second process does it on another core. (A thread
would share the interpreter's lock with the renderer and wait for it after each system
call.) The build hands each file over as a frame on the process's standard input, the
pipe holding back the build when the process lags; ``settle`` asks which files it wrote,
the stamp of each file it was given (``stamps``: what tells the next build the file was
not touched since, ``milpa.outputs.file_stamp``) and what failed.

Run as a script (``python -I -S writing.py``), only the standard library is imported.
"""

from __future__ import annotations

import contextlib
import filecmp
import json
import os
import shutil
import struct
import subprocess
import sys
from typing import BinaryIO

# A frame: what to do, then the lengths of the relative path, the target, the previous
# output's file (empty: none to compare with) and the payload (the bytes, or the source).
_HEADER = struct.Struct("<cIIII")
_WRITE, _COPY, _SETTLE = b"W", b"C", b"S"


class WriteFailed(OSError):
    """A file could not be written, or the writing process ended before its time."""


class WritingProcess:
    """The build's side: hands files over and learns which it wrote (``changed``: the
    relative paths of files not the same as the previous output's) and the stamp of each
    file given as bytes, written or the same as before (``stamps``)."""

    def __init__(self) -> None:
        self.process: subprocess.Popen[bytes] | None = None
        self.changed: list[str] = []
        self.stamps: dict[str, list[int]] = {}
        self._failure: str | None = None

    def write(self, relative: str, target: str, previous: str | None, data: bytes) -> None:
        """``data`` as ``target``, unless ``previous`` holds the same bytes."""
        self._send(_WRITE, relative, target, previous or "", data)

    def copy(self, relative: str, target: str, previous: str | None, source: str) -> None:
        """``source`` copied as ``target``, unless ``previous`` holds the same bytes."""
        self._send(_COPY, relative, target, previous or "", os.fsencode(source))

    def _send(self, kind: bytes, relative: str, target: str, previous: str,
              payload: bytes) -> None:
        if self._failure is not None:
            return
        if self.process is None:
            self.process = subprocess.Popen(
                [sys.executable, "-I", "-S", __file__], stdin=subprocess.PIPE,
                stdout=subprocess.PIPE, bufsize=1 << 16)
        names = [os.fsencode(name) for name in (relative, target, previous)]
        try:
            self.process.stdin.write(_HEADER.pack(kind, *map(len, names), len(payload)))
            for part in (*names, payload):
                self.process.stdin.write(part)
        except BrokenPipeError:
            self._failure = self._ended()

    def _collect(self) -> None:
        """Ask the process what it wrote and what failed since it was last asked."""
        if not self._running or self._failure is not None:
            return
        try:
            self._send(_SETTLE, "", "", "", b"")
            self.process.stdin.flush()
            answer = self.process.stdout.readline()
        except BrokenPipeError:
            answer = b""
        if not answer:
            self._failure = self._ended()
            return
        said = json.loads(answer)
        self.changed += said["changed"]
        self.stamps.update(said["stamps"])
        self._failure = said["failure"]

    @property
    def _running(self) -> bool:
        return self.process is not None and self.process.returncode is None

    def _ended(self) -> str:
        code = self.process.wait() if self.process is not None else None
        return f"the process writing the output ended before its time (exit status {code})"

    def settle(self) -> None:
        """Wait until every file handed over so far is written; raise what failed."""
        self._collect()
        if self._failure is not None:
            raise WriteFailed(self._failure)

    def stop(self) -> None:
        """Write what is left and end the process (``settle`` still says what failed)."""
        if self.process is None:
            return
        try:
            self._collect()
        finally:
            with contextlib.suppress(BrokenPipeError):
                self.process.stdin.close()
            self.process.wait()
            self.process.stdout.close()


def _stamp(descriptor: int) -> list[int]:
    """An open file's stamp, as ``milpa.outputs.file_stamp`` takes it."""
    status = os.fstat(descriptor)
    return [status.st_size, status.st_mtime_ns, status.st_ino]


def _same_file(path: str, data: bytes) -> list[int] | None:
    """The stamp of the file at ``path`` if it holds exactly ``data``."""
    try:
        with open(path, "rb") as handle:
            stamp = _stamp(handle.fileno())
            return stamp if stamp[0] == len(data) and handle.read() == data else None
    except OSError:  # not there before (or not a file): write it
        return None


def _write_file(path: str, data: bytes) -> list[int]:
    """``data`` as the file at ``path``, in as few system calls as it takes; its stamp."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o666)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(descriptor, view):]
        return _stamp(descriptor)
    finally:
        os.close(descriptor)


class _Writer:
    """The process's side: makes each folder once, writes or copies, counts what changed
    and stamps what it was given as bytes."""

    def __init__(self) -> None:
        self.folders: set[str] = set()
        self.changed: list[str] = []
        self.stamps: dict[str, list[int]] = {}

    def _folder_for(self, target: str) -> None:
        folder = os.path.dirname(target)
        if folder not in self.folders:
            os.makedirs(folder, exist_ok=True)
            self.folders.add(folder)

    def write(self, relative: str, target: str, previous: str, data: bytes) -> bool:
        stamp = _same_file(previous, data) if previous else None
        written = stamp is None
        if written:
            self._folder_for(target)
            stamp = _write_file(target, data)
        self.stamps[relative] = stamp
        return written

    def copy(self, target: str, previous: str, source: str) -> bool:
        try:
            if previous and os.path.isfile(previous) and \
                    filecmp.cmp(previous, source, shallow=False):
                return False
        except OSError:
            pass
        self._folder_for(target)
        shutil.copyfile(source, target)
        return True


def _serve(frames: BinaryIO, answers: BinaryIO) -> None:
    writer, failure = _Writer(), None
    while header := frames.read(_HEADER.size):
        kind, *sizes = _HEADER.unpack(header)
        relative, target, previous, payload = (frames.read(size) for size in sizes)
        if kind == _SETTLE:
            said = {"changed": writer.changed, "stamps": writer.stamps, "failure": failure}
            answers.write(json.dumps(said).encode() + b"\n")
            answers.flush()
            writer.changed, writer.stamps = [], {}
        elif failure is None:
            try:
                done = writer.write(os.fsdecode(relative), os.fsdecode(target),
                                    os.fsdecode(previous), payload) \
                    if kind == _WRITE else \
                    writer.copy(os.fsdecode(target), os.fsdecode(previous), os.fsdecode(payload))
            except OSError as error:
                failure = str(error)
            else:
                if done:
                    writer.changed.append(os.fsdecode(relative))


if __name__ == "__main__":
    _serve(sys.stdin.buffer, sys.stdout.buffer)
