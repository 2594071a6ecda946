"""Follow from your server: a plain form, answered by a redirect to the reader's server."""

from __future__ import annotations

import http.client
from contextlib import closing
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from bs4 import BeautifulSoup

from milpa.remote_follow import follow_url, server_host
from milpa_inbox.web import CONTENT_SECURITY_POLICY, site_app

from .conftest import MiniSite, story
from .servers import serving


@pytest.mark.parametrize(("typed", "host"), [
    ("mastodon.social", "mastodon.social"),
    ("  https://Mastodon.Social/ ", "mastodon.social"),
    ("@ana@mastodon.social", "mastodon.social"),
    ("ana@tooting.ch", "tooting.ch"),
    ("bücher.example", "xn--bcher-kva.example"),
])
def test_the_server_is_read_as_a_reader_would_type_it(typed: str, host: str) -> None:
    assert server_host(typed) == host


@pytest.mark.parametrize("typed", [
    "", "localhost", "127.0.0.1", "127.1", "[::1]", "0.0.0.0", "http://mastodon.social",
    "https://user:pw@mastodon.social", "https://mastodon.social:8443", "evil.example/path?x",
    "a..b", "-a.example", "x" * 64 + ".example",
])
def test_anything_but_a_server_name_is_refused(typed: str) -> None:
    assert server_host(typed) is None


def test_only_the_sites_own_actors_can_be_followed_this_way() -> None:
    base = "https://stories.example"
    assert follow_url("mastodon.social", f"{base}/ap/actors/stories", base) == (
        "https://mastodon.social/authorize_interaction?uri="
        "https%3A%2F%2Fstories.example%2Fap%2Factors%2Fstories")
    assert follow_url("mastodon.social", "https://elsewhere.example/ap/actors/x", base) is None
    assert follow_url("mastodon.social", "https://stories.example.evil/ap/x", base) is None


def test_the_form_needs_no_script_and_the_site_redirects_it(mini_site: MiniSite) -> None:
    mini_site.add("stories/a.md", story("A", slug="a"))
    with serving(lambda base: site_app(mini_site.output, base)) as base:
        mini_site.build(SITEURL=base)
        page = BeautifulSoup(mini_site.read("territory/sierra-norte/index.html"), "html.parser")
        form = page.select_one("form.follow")
        assert form["method"] == "get" and not page.select("script")
        fields = {field["name"]: field.get("value", "") for field in form.select("[name]")}
        fields["server"] = "@ana@mastodon.social"
        address = urlsplit(base)
        connection = http.client.HTTPConnection(address.hostname, address.port, timeout=10)
        with closing(connection):
            # http.client never follows a redirect: nothing leaves the loopback.
            connection.request("GET", f"{urlsplit(form['action']).path}?{urlencode(fields)}")
            answer = connection.getresponse()
            answer.read()
            assert answer.status == 303
            location = urlsplit(answer.getheader("Location"))
            assert location[:3] == ("https", "mastodon.social", "/authorize_interaction")
            assert parse_qs(location.query) == {"uri": [fields["uri"]]}
            # The page's policy lets a form be redirected to the reader's https server.
            assert "form-action 'self' https:" in answer.getheader("Content-Security-Policy")
            refusing = urlencode({**fields, "server": "127.0.0.1"})
            connection.request("GET", f"/follow-from?{refusing}")
            refused = connection.getresponse()
            refused.read()
            assert refused.status == 400 and refused.getheader("Location") is None
    assert "form-action 'self' https:" in CONTENT_SECURITY_POLICY


def test_deploy_configs_send_the_form_to_the_inbox_process() -> None:
    deploy = Path(__file__).resolve().parent.parent / "deploy"
    assert "location = /follow-from" in (deploy / "nginx.conf").read_text()
    assert "reverse_proxy /follow-from" in (deploy / "Caddyfile").read_text()
