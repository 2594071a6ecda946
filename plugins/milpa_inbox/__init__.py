"""The one process that listens: the inbox (verification and handlers) and the static server.

Never imports Pelican: the service runs without the build's stack (a test proves it).
"""
