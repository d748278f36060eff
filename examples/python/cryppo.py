"""Cryppo strings, the Secret Key and the keys derived from it (reference/meeco-compat.md sections 1-2).

Only what this client needs: AES-256-GCM Cryppo strings in the current (BSON) artefact format, PBKDF2-HMAC-SHA256,
base58 and the Secret Key. Legacy YAML artefacts (data written before late 2020) are not read here.
"""

import base64
import hashlib
import hmac
import os
import struct

from cryptography.hazmat.primitives.ciphers.aead import AESGCM


class CryppoError(Exception):
    pass


# URL-safe base64 WITH padding; readers take it padded or not and refuse the standard alphabet's + and /.
def b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii")


def b64decode(text: str) -> bytes:
    if "+" in text or "/" in text:
        raise CryppoError("not URL-safe base64 (has + or /)")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except ValueError as error:
        raise CryppoError(f"not base64: {error}") from None


# BSON, just the subset of the artefacts: binary (subtype 0), string, int32.
def _bson(fields) -> bytes:
    body = b""
    for name, value in fields:
        key = name.encode() + b"\0"
        if isinstance(value, bytes):
            body += b"\x05" + key + struct.pack("<i", len(value)) + b"\x00" + value
        elif isinstance(value, str):
            raw = value.encode() + b"\0"
            body += b"\x02" + key + struct.pack("<i", len(raw)) + raw
        else:
            body += b"\x10" + key + struct.pack("<i", value)
    return struct.pack("<i", len(body) + 5) + body + b"\0"


def _unbson(document: bytes) -> dict:
    if len(document) < 5 or struct.unpack_from("<i", document)[0] != len(document) or document[-1] != 0:
        raise CryppoError("malformed BSON artefacts")
    fields, at = {}, 4
    try:
        while document[at] != 0:
            kind, end = document[at], document.index(b"\0", at + 1)
            name, at = document[at + 1:end].decode(), end + 1
            if kind == 0x05:  # binary: length, subtype, bytes
                (length,) = struct.unpack_from("<i", document, at)
                fields[name], at = document[at + 5:at + 5 + length], at + 5 + length
            elif kind == 0x02:  # string: length with the NUL, bytes, NUL
                (length,) = struct.unpack_from("<i", document, at)
                fields[name], at = document[at + 4:at + 3 + length].decode(), at + 4 + length
            elif kind == 0x10:
                (fields[name],), at = struct.unpack_from("<i", document, at), at + 4
            else:
                raise CryppoError(f"unexpected BSON type {kind:#x} in the artefacts")
    except (IndexError, ValueError, struct.error):
        raise CryppoError("malformed BSON artefacts") from None
    return fields


def format_aes(ciphertext: bytes, iv: bytes, tag: bytes) -> str:
    """`Aes256Gcm.B64(ciphertext).B64("A" || BSON{iv, at, ad: "none"})`, byte for byte as cryppo-js writes it."""
    artefacts = b"A" + _bson([("iv", iv), ("at", tag), ("ad", "none")])
    return f"Aes256Gcm.{b64encode(ciphertext)}.{b64encode(artefacts)}"


def encrypt(plaintext: bytes, key: bytes) -> str:
    """Cryppo(key, plaintext): AES-256-GCM, a fresh 12-byte IV, the 4 bytes `none` as AAD."""
    if len(key) != 32:
        raise CryppoError("an AES-256 key has 32 bytes")
    if not plaintext:
        raise CryppoError("an empty value is stored as no value, never encrypted")
    iv = os.urandom(12)
    sealed = AESGCM(key).encrypt(iv, plaintext, b"none")
    return format_aes(sealed[:-16], iv, sealed[-16:])


def decrypt(text: str, key: bytes) -> bytes:
    parts = text.split(".")
    if len(parts) != 3 or parts[0] != "Aes256Gcm":
        raise CryppoError("not an Aes256Gcm Cryppo string with a key (3 parts)")
    ciphertext, artefacts = b64decode(parts[1]), b64decode(parts[2])
    if artefacts[:1] != b"A":
        raise CryppoError("unsupported artefact format (only the current BSON one is read here)")
    fields = _unbson(artefacts[1:])
    iv, tag, ad = fields.get("iv"), fields.get("at"), fields.get("ad", "none")
    if not isinstance(iv, bytes) or len(iv) != 12 or not isinstance(tag, bytes) or len(tag) != 16:
        raise CryppoError("the artefacts lack a 12-byte iv or a 16-byte tag")
    try:
        return AESGCM(key).decrypt(iv, ciphertext + tag, ad.encode())
    except Exception:
        raise CryppoError("does not decrypt with this key (wrong key or tampered data)") from None


def pbkdf2(password: bytes, salt: bytes, iterations: int, length: int = 32) -> bytes:
    return hashlib.pbkdf2_hmac("sha256", password, salt, iterations, length)


BASE58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def base58(data: bytes) -> str:
    number, out = int.from_bytes(data, "big"), ""
    while number:
        number, digit = divmod(number, 58)
        out = BASE58[digit] + out
    return "1" * (len(data) - len(data.lstrip(b"\0"))) + out


class SecretKey:
    """`1.<username>.<readable>`: readable is base58 of 32 random bytes with `-` after every 6 characters."""

    ITERATIONS = 100_000

    def __init__(self, username: str, key: str):
        if not username or "." in username or any(not 0x20 < ord(c) < 0x7F for c in username):
            raise CryppoError("a Secret Key's username is non-empty printable ASCII without '.'")
        if not key or any(c not in BASE58 for c in key):
            raise CryppoError("a Secret Key's key part is base58")
        self.username, self.key = username, key

    @classmethod
    def generate(cls, username: str) -> "SecretKey":
        return cls(username, base58(os.urandom(32)))

    @classmethod
    def parse(cls, text: str) -> "SecretKey":
        parts = text.strip().split(".")
        if len(parts) != 3 or parts[0] != "1":
            raise CryppoError("a Secret Key has the form 1.<username>.<key>")
        return cls(parts[1], parts[2].replace("-", ""))

    def __str__(self) -> str:
        readable = "-".join(self.key[i:i + 6] for i in range(0, len(self.key), 6))
        return f"1.{self.username}.{readable}"

    def pdk(self, passphrase: str) -> bytes:
        """PDK = PBKDF2-HMAC-SHA256(passphrase, salt = the key part, 100 000 iterations, 32 bytes)."""
        return pbkdf2(passphrase.encode(), self.key.encode(), self.ITERATIONS)

    def srp_raw_key(self, passphrase: str) -> bytes:
        return pbkdf2(passphrase.encode(), self.key[::-1].encode(), self.ITERATIONS)

    def srp_password(self, passphrase: str) -> bytes:
        """The raw key's bytes taken as code points U+0000..U+00FF, UTF-8 encoded (the Meeco clients' quirk)."""
        return self.srp_raw_key(passphrase).decode("latin-1").encode("utf-8")


def hmac_sha256(key: bytes, message: bytes) -> bytes:
    return hmac.new(key, message, hashlib.sha256).digest()
