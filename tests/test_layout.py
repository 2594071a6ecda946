"""The three worlds stay apart: the listener and the sender never load the build's stack."""

from __future__ import annotations

import subprocess
import sys

SERVICE_MODULES = ["milpa_inbox.inbox", "milpa_inbox.web", "milpa_inbox.keys",
                   "milpa_inbox.signatures", "milpa_inbox.server", "milpa_inbox.quotes",
                   "milpa_delivery.announce",
                   "milpa_delivery.deliverer", "milpa_delivery.queue", "milpa_delivery.guard",
                   "milpa_delivery.remote", "milpa_delivery.bridge",
                   "milpa_delivery.withdrawals", "milpa_inbox.followers_sync",
                   "milpa_delivery.takedown"]


def test_inbox_and_delivery_never_import_pelican() -> None:
    probe = ("import sys\n" + "".join(f"import {name}\n" for name in SERVICE_MODULES) +
             "print(' '.join(sorted(m for m in sys.modules"
             " if m.split('.')[0] in ('pelican', 'jinja2', 'markdown'))))")
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                            check=True).stdout.split()
    assert loaded == [], f"the services load the build's stack: {loaded}"
