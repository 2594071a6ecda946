"""Production settings: the local ones, with the site's public address."""

import os
import sys

sys.path.append(os.path.dirname(__file__))
from pelicanconf import *  # noqa: E402,F403  (Pelican's convention for publishconf)

SITEURL = os.environ.get("MILPA_SITEURL", "https://stories.example.org")
RELATIVE_URLS = False
