"""Values the database keeps for a moment but must never hold readable (a new API token
waiting for the page that shows it once): sealed with Fernet (AES-CBC plus HMAC-SHA256,
from the `cryptography` library) under a key derived from the app's secret key.

Each use derives its own key (HKDF-SHA256 with a purpose label), so a value sealed for one
purpose does not open for another. A value that does not open (another secret key, an old
plaintext row) reads as absent: what it held was short-lived anyway.
"""

from __future__ import annotations

import base64

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

FLASH_PURPOSE = "staff-session flash"


class Sealer:
    def __init__(self, secret_key: str, purpose: str) -> None:
        if not secret_key:
            raise ValueError("a sealer needs a secret key")
        derived = HKDF(
            algorithm=hashes.SHA256(),
            length=32,
            salt=None,
            info=f"supportdesk {purpose}".encode(),
        ).derive(secret_key.encode())
        self._fernet = Fernet(base64.urlsafe_b64encode(derived))

    def seal(self, text: str) -> str:
        return self._fernet.encrypt(text.encode()).decode("ascii")

    def unseal(self, sealed: str) -> str | None:
        """The text, or None when `sealed` was not made by this sealer."""
        try:
            return self._fernet.decrypt(sealed.encode("ascii")).decode()
        except (InvalidToken, UnicodeEncodeError):
            return None
