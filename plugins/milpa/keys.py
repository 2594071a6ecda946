"""The actors' key pair: made once, kept outside the site, only its public half published."""

from __future__ import annotations

import os
from pathlib import Path

PRIVATE_KEY = "actor.private.pem"
PUBLIC_KEY = "actor.public.pem"


class KeyMissing(FileNotFoundError):
    """No public key yet: ``publish.py keys`` makes one."""


def create_key_pair(folder: Path, overwrite: bool = False) -> tuple[Path, Path]:
    """Write a new RSA-2048 pair; the private key is readable by its owner only (0600)."""
    # Imported here: bovine's crypto stack takes half a second to load, and only this
    # command needs it; the build reads a PEM file.
    from bovine.crypto import generate_rsa_public_private_key

    private, public = folder / PRIVATE_KEY, folder / PUBLIC_KEY
    if not overwrite and (private.exists() or public.exists()):
        raise FileExistsError(private)
    public_pem, private_pem = generate_rsa_public_private_key()
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o700)
    descriptor = os.open(private, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(private_pem)
    private.chmod(0o600)  # O_CREAT's mode does not apply to a file that already existed
    public.write_text(public_pem)
    return private, public


def read_public_key(folder: Path) -> str:
    """The public key's PEM; the build never opens the private key."""
    try:
        return (folder / PUBLIC_KEY).read_text()
    except FileNotFoundError:
        raise KeyMissing(folder / PUBLIC_KEY) from None


def read_private_key(folder: Path) -> str:
    """The private key's PEM, for the inbox and delivery (never for the build)."""
    try:
        return (folder / PRIVATE_KEY).read_text()
    except FileNotFoundError:
        raise KeyMissing(folder / PRIVATE_KEY) from None
