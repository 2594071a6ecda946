"""Does a request carry a signature we believe? draft-cavage and RFC 9421, one policy.

Whatever the format, the signature must cover the method and target (query included),
our host, the time it was made (``date``, or ``created`` in RFC 9421) and, for a POST,
the body's digest, and the digest that is checked against the body is the one the
signature covers: an extra, unsigned digest header proves nothing. The key comes from
``KeyOwners`` (whose rules say who owns it); a signature value seen before is a replay
and is refused.
Every malformed input is a ``BadSignature``, never an exception of the parser's own.
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import http_sf
from bovine.crypto.digest import validate_digest
from bovine.crypto.http_signature import HttpSignature
from bovine.crypto.signature import Signature
from bovine.utils import parse_gmt
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from http_message_signatures import (
    HTTPMessageSignaturesException,
    HTTPMessageVerifier,
    MappingKeyResolver,
    algorithms,
)
from multidict import CIMultiDictProxy

from milpa.logs import service_logger

from .keys import KeyOwners, OwnedKey, Untrusted, origin

logger = service_logger(__name__)
DATE_WINDOW = 300  # seconds a signature's date may be off from ours, either way
CAVAGE_REQUIRED = ("(request-target)", "host", "date")
DIGESTS = ("digest", "content-digest")


class BadSignature(Exception):
    """A signature we do not accept; ``status`` is what the sender gets."""

    def __init__(self, reason: str, status: int = 401) -> None:
        super().__init__(reason)
        self.status = status


@dataclass(frozen=True)
class SignedRequest:
    """What a signature covers of a received request, as the sender addressed it."""

    url: str  # our public address: scheme of the site, the Host header, path and query
    target: str  # path and query, as sent
    headers: CIMultiDictProxy[str]
    body: bytes
    # A POST's signature must cover its body's digest; a GET (FEP-8fcf's partial
    # followers collection) has no body. http-message-signatures reads this name too.
    method: str = "POST"

    def header(self, name: str) -> str:
        values = self.headers.getall(name, [])
        if not values:
            raise BadSignature(f"signed header {name} is missing")
        return ", ".join(values)


class ReplayCache:
    """Signatures accepted within the date window (their SHA-256, 32 bytes each); bounded,
    oldest forgotten first: 200,000 is over ten minutes at 300 requests a second."""

    def __init__(self, size: int = 200_000, seconds: float = 2 * DATE_WINDOW + 60) -> None:
        self.size = size
        self.seconds = seconds
        self._seen: OrderedDict[bytes, float] = OrderedDict()

    def first_time(self, value: str) -> bool:
        """Record ``value``; False when it was seen before (a replay)."""
        now = time.monotonic()
        while self._seen and next(iter(self._seen.values())) < now:
            self._seen.popitem(last=False)
        digest = hashlib.sha256(value.encode("utf-8", "surrogateescape")).digest()
        if digest in self._seen:
            return False
        self._seen[digest] = now + self.seconds
        while len(self._seen) > self.size:
            self._seen.popitem(last=False)
        return True


def fresh_date(value: str) -> None:
    try:
        moment = parse_gmt(value)
    except ValueError:
        raise BadSignature("the Date header is not an HTTP date") from None
    if abs((datetime.now(UTC) - moment).total_seconds()) > DATE_WINDOW:
        raise BadSignature(f"the signature's date is more than {DATE_WINDOW} s off")


def fresh_created(value: Any) -> None:
    if not isinstance(value, int) or isinstance(value, bool):
        raise BadSignature("the signature's created time is not a number")
    if abs(time.time() - value) > DATE_WINDOW:
        raise BadSignature(f"the signature was created more than {DATE_WINDOW} s from now")


def check_digest(request: SignedRequest, name: str) -> None:
    """The digest header ``name`` (one the signature covers) matches the body."""
    if not validate_digest({name: request.header(name)}, request.body):
        raise BadSignature(f"the {name} header does not match the body")


def verifies(key: OwnedKey, message: str, signature: str) -> bool:
    try:
        return key.identifier.verify(message, signature) == key.owner
    except (ValueError, TypeError):  # not base64, or a key type this format cannot use
        return False


class Verifier:
    """The owner of the key that signed a request, by the policy above."""

    def __init__(self, keys: KeyOwners, hosts: frozenset[str],
                 replays: ReplayCache | None = None) -> None:
        self.keys = keys
        self.hosts = hosts  # the Host values the site answers to (lowercase)
        self.replays = replays or ReplayCache()

    async def owner(self, request: SignedRequest) -> str:
        headers = request.headers
        if "signature" not in headers:
            raise BadSignature("request is not signed")
        host = headers.get("host", "").lower()
        if host not in self.hosts:
            raise BadSignature(f"signed for another host: {host[:100]}")
        if "signature-input" in headers:
            key, value = await self.rfc9421(request)
        else:
            key, value = await self.cavage(request)
        if not self.replays.first_time(value):
            logger.warning("inbox: replayed signature from %s refused", key.owner)
            raise BadSignature("this signature was used before", status=409)
        return key.owner

    async def key_that(self, key_id: Any, check: Callable[[OwnedKey], bool]) -> OwnedKey:
        """The owned key ``key_id`` whose ``check`` passes; a cached key that fails is
        fetched again, once (its owner may have rotated it)."""
        if not isinstance(key_id, str) or origin(key_id) is None:  # None: unparseable too
            raise BadSignature("the signature names no http(s) key")
        key = self.keys.cached(key_id)
        was_cached = key is not None or self.keys.remote.is_cached(key_id)
        try:
            if key is None:
                key = await self.keys.resolve(key_id)
            if not check(key):
                if not was_cached:
                    raise BadSignature("signature does not verify")
                self.keys.forget(key_id)
                key = await self.keys.resolve(key_id, fresh=True)
                if not check(key):
                    raise BadSignature("signature does not verify")
        except Untrusted as error:
            logger.warning("inbox: key %s refused: %s", key_id[:200], error)
            raise BadSignature(f"key not trusted: {error}") from None
        self.keys.remember(key)
        return key

    async def cavage(self, request: SignedRequest) -> tuple[OwnedKey, str]:
        try:
            parsed = Signature.from_signature_header(request.header("signature"))
        except (ValueError, KeyError, IndexError):  # bovine's parser raises these
            raise BadSignature("malformed Signature header") from None
        fields = [name.lower() for name in parsed.fields]
        missing = [name for name in CAVAGE_REQUIRED if name not in fields]
        if request.method == "POST" and not set(DIGESTS) & set(fields):
            missing.append("digest")
        if missing:
            raise BadSignature(f"signature must cover {', '.join(missing)}")
        fresh_date(request.header("date"))
        for name in DIGESTS:
            if name in fields:
                check_digest(request, name)
        signed = HttpSignature()
        for name in fields:
            if name == "(request-target)":
                signed.with_field(name, f"{request.method.lower()} {request.target}")
            elif name in ("(created)", "(expires)"):
                value = parsed.created if name == "(created)" else parsed.expires
                if value is None:
                    raise BadSignature(f"signature covers {name} without its value")
                signed.with_field(name, str(value))
            else:
                signed.with_field(name, request.header(name))
        message = signed.build_message()
        key = await self.key_that(parsed.key_id,
                                  lambda key: verifies(key, message, parsed.signature))
        return key, parsed.signature

    async def rfc9421(self, request: SignedRequest) -> tuple[OwnedKey, str]:
        params = signature_params(request.header("signature-input"))
        key_id = params.get("keyid")
        covered: set[str] = set()

        def check(key: OwnedKey) -> bool:
            verifier = HTTPMessageVerifier(
                signature_algorithm=algorithm_for(key, params.get("alg")),
                key_resolver=MappingKeyResolver(
                    public_keys={key_id: key.identifier.public_key}, private_keys={}))
            verifier.require_created = False  # `date` may stand in for it (checked below)
            try:  # with the body, it also requires and checks a covered content-digest
                [result] = verifier.verify(request, max_age=None, body=request.body
                                           if request.method == "POST" else None)
            except (HTTPMessageSignaturesException, ValueError):
                return False
            covered.update(name.split(";")[0].strip('"') for name in result.covered_components)
            return True

        key = await self.key_that(key_id, check)
        if "@method" not in covered or not (
                "@target-uri" in covered or {"@path", "@authority"} <= covered):
            raise BadSignature("signature must cover @method and @target-uri")
        if "created" in params:
            fresh_created(params["created"])
        elif "date" in covered:
            fresh_date(request.header("date"))
        else:
            raise BadSignature("signature must carry created or cover date")
        return key, request.header("signature")


def signature_params(signature_input: str) -> dict[str, Any]:
    """The parameters (keyid, alg, created...) of the one RFC 9421 signature offered."""
    try:
        signatures = http_sf.parse(signature_input.encode(), tltype="dictionary")
    except (ValueError, UnicodeEncodeError):
        raise BadSignature("malformed Signature-Input header") from None
    if len(signatures) != 1:
        raise BadSignature("Signature-Input must offer exactly one signature")
    [member] = signatures.values()
    if not isinstance(member, tuple) or not isinstance(member[0], list):
        raise BadSignature("malformed Signature-Input header")
    return member[1]


def algorithm_for(key: OwnedKey, named: Any) -> type[algorithms.HTTPSignatureAlgorithm]:
    """The RFC 9421 algorithm for a key (``alg`` is optional; the key's type decides)."""
    public = key.identifier.public_key
    if isinstance(public, ed25519.Ed25519PublicKey):
        return algorithms.ED25519
    if isinstance(public, ec.EllipticCurvePublicKey):
        return algorithms.ECDSA_P384_SHA384 if public.curve.name == "secp384r1" \
            else algorithms.ECDSA_P256_SHA256
    if isinstance(public, rsa.RSAPublicKey) and named == "rsa-pss-sha512":
        return algorithms.RSA_PSS_SHA512
    return algorithms.RSA_V1_5_SHA256
