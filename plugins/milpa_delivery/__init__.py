"""The sender: the durable queue (sole owner of its files) and outbound HTTP with the
address guard. Every outgoing activity, an Accept as much as a story, leaves through it.

Never imports Pelican (a test proves it).
"""
