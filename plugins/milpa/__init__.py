"""Milpa's core: pure building blocks shared by the Pelican plugins and ``publish.py``.

Nothing here imports Pelican or a web framework, and nothing here touches the network.
"""

__version__ = "0.1.0"
