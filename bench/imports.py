"""Archive imports: posts read per second, and a whole import written, for big archives.

    python bench/imports.py [--posts 20000]

Makes a Mastodon export and an X archive of POSTS posts (one in ten with a small photo,
one in five continuing a thread), then times reading each, and the full command
(`publish.py import mastodon`) writing the stories into a temporary site. Prints figures;
never fails on them.
"""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from milpa.archives import read_mastodon, read_x  # noqa: E402

OLD = "https://old.example/users/ana"


def small_photo() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), "seagreen").save(buffer, "JPEG")
    return buffer.getvalue()


def mastodon_archive(posts: int) -> bytes:
    photo, items = small_photo(), []
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as bundle:
        for number in range(posts):
            note = {"id": f"{OLD}/statuses/{number}", "type": "Note", "attributedTo": OLD,
                    "published": f"2024-01-01T00:{number // 60 % 60:02d}:{number % 60:02d}Z",
                    "content": f"<p>Post {number}: la milpa y el agua, día {number}.</p>"}
            if number % 5 == 1:
                note["inReplyTo"] = f"{OLD}/statuses/{number - 1}"
            if number % 10 == 0:
                path = f"media_attachments/files/{number}/p.jpg"
                note["attachment"] = [{"type": "Document", "mediaType": "image/jpeg",
                                       "url": f"/{path}", "name": "A field"}]
                bundle.writestr(path, photo)
            items.append({"type": "Create", "actor": OLD, "object": note})
        bundle.writestr("actor.json", json.dumps({"id": OLD}))
        bundle.writestr("outbox.json", json.dumps({"orderedItems": items}))
    return buffer.getvalue()


def x_archive(posts: int) -> bytes:
    photo, tweets = small_photo(), []
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as bundle:
        for number in range(1, posts + 1):
            tweet = {"id_str": str(number), "full_text": f"Post {number} #agua",
                     "created_at": "Wed Oct 15 20:19:24 +0000 2025", "lang": "es",
                     "entities": {"hashtags": [{"text": "agua"}]}}
            if number % 5 == 2:
                tweet |= {"in_reply_to_status_id_str": str(number - 1),
                          "in_reply_to_user_id_str": "42"}
            if number % 10 == 0:
                tweet["extended_entities"] = {"media": [
                    {"type": "photo", "media_url_https": "https://pbs/p.jpg"}]}
                bundle.writestr(f"data/tweets_media/{number}-p.jpg", photo)
            tweets.append({"tweet": tweet})
        bundle.writestr("data/account.js", "window.YTD.account.part0 = " + json.dumps(
            [{"account": {"accountId": "42"}}]))
        bundle.writestr("data/tweets.js", "window.YTD.tweets.part0 = " + json.dumps(tweets))
    return buffer.getvalue()


def timed(label: str, posts: int, work) -> object:
    started = time.perf_counter()
    result = work()
    seconds = time.perf_counter() - started
    print(f"{label:<40} {seconds:6.2f} s  {posts / seconds:8.0f} posts/s")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=20_000)
    arguments = parser.parse_args()
    posts = arguments.posts
    mastodon, x = mastodon_archive(posts), x_archive(posts)
    stories = timed("read a Mastodon export", posts, lambda: read_mastodon(mastodon, "es"))
    timed("read an X archive", posts, lambda: read_x(x, "es"))
    with tempfile.TemporaryDirectory() as folder:
        base = Path(folder)
        (base / "content/stories").mkdir(parents=True)
        (base / "archive.zip").write_bytes(mastodon)
        (base / "pelicanconf.py").write_text(
            (ROOT / "pelicanconf.py").read_text()
            + f"\nPATH = {str(base / 'content')!r}\nMILPA_DATA_PATH = {str(base / 'data')!r}\n"
            + f"THEME = {str(ROOT / 'theme')!r}\nPLUGIN_PATHS = [{str(ROOT / 'plugins')!r}]\n")
        timed("publish.py import mastodon (all written)", posts, lambda: subprocess.run(
            [sys.executable, str(ROOT / "publish.py"), "import", "mastodon", "archive.zip",
             "--territory", "Sierra Norte", "--author", "Ana"], cwd=base, check=True,
            capture_output=True))
    print(f"{posts} posts became {len(stories)} stories (threads joined)")


if __name__ == "__main__":
    main()
