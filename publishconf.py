"""Production settings: the local ones, with the site's public address."""

import os
import sys
from pathlib import Path

sys.path.append(str(Path(__file__).parent))
from pelicanconf import *  # noqa: F403  (Pelican's convention for publishconf)

SITEURL = os.environ.get("MILPA_SITEURL", "https://stories.example.org")
RELATIVE_URLS = False
