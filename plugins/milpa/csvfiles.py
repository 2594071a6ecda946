"""The CSV files other servers read and write: followers out, domain blocks in."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from .blocks import normal_domain
from .state import DataStore

# A spreadsheet reads a cell starting with one of these as a formula (OWASP, CSV injection).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def cell(value: str) -> str:
    """``value`` as a spreadsheet will show it, never run it: a leading quote if needed."""
    return f"'{value}" if value.startswith(_FORMULA_START) else value


def followers_csv(store: DataStore) -> str:
    """Mastodon's follows-CSV columns (user@host first), then where each follows us."""
    rows = io.StringIO()
    # CRLF, as RFC 4180 says: a cell holding a bare CR is then quoted, not a new row.
    writer = csv.writer(rows, lineterminator="\r\n")
    writer.writerow(["Account address", "Show boosts", "Notify on new posts", "Languages",
                     "Follows", "Actor", "Since"])
    for actor in store.actors_with_followers():
        for follower in store.followers(actor):
            # Names and ids come from other servers: none may become a formula.
            writer.writerow([cell(value) for value in (
                follower.acct or follower.id, "true", "false", "", actor, follower.id,
                follower.since)])
    return rows.getvalue()


def read_domain_blocks(path: Path) -> list[str]:
    """Domains from Mastodon's CSV export (`#domain,#severity,…`) or a plain list, each
    normalised as blocks are matched (milpa.blocks); entries that name no host are left out."""
    with path.open(encoding="utf-8", newline="") as handle:
        rows = [row for row in csv.reader(handle) if row and row[0].strip()]
    if rows and rows[0][0].strip().lstrip("#").lower() == "domain":
        rows = rows[1:]
    domains = (normal_domain(row[0]) for row in rows if not row[0].startswith("#"))
    return [domain for domain in domains if domain]
