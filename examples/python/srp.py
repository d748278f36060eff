"""SRP-6a as the Meeco clients (jsrp) speak it (reference/meeco-compat.md section 3).

k = H(PAD(N) | PAD(g)), x = H(s | H(I | ":" | P)), u = H(PAD(A) | PAD(B)), K = H(PAD(S)),
M1 = H(PAD(A) | PAD(B) | K) (not RFC 2945's form), M2 = H(PAD(A) | M1 | K). One code path for the RFC 5054
test vector (1024-bit, SHA-1) and production (2048-bit, SHA-256).
"""

import hashlib
import hmac
import os


class SRPError(Exception):
    pass


class Parameters:
    def __init__(self, prime_hex: str, generator: int, hash_name: str):
        self.N, self.g = int(prime_hex, 16), generator
        self.width = (self.N.bit_length() + 7) // 8
        self.hash_name = hash_name
        self.k = self.to_int(self.H(self.pad(self.N), self.pad(self.g)))

    def H(self, *parts: bytes) -> bytes:
        digest = hashlib.new(self.hash_name)
        for part in parts:
            digest.update(part)
        return digest.digest()

    def pad(self, number: int) -> bytes:
        return number.to_bytes(self.width, "big")

    @staticmethod
    def to_int(data: bytes) -> int:
        return int.from_bytes(data, "big")

    def x(self, salt: bytes, username: str, password: bytes) -> int:
        return self.to_int(self.H(salt, self.H(username.encode(), b":", password)))

    def verifier(self, salt: bytes, username: str, password: bytes) -> int:
        return pow(self.g, self.x(salt, username, password), self.N)


RFC5054_1024 = (
    "EEAF0AB9ADB38DD69C33F80AFA8FC5E86072618775FF3C0B9EA2314C9C256576D674DF7496EA81D3383B4813D692C6E0E0D5D8E250B98BE4"
    "8E495C1D6089DAD15DC7D7B46154D6B6CE8EF4AD69B15D4982559B297BCF1885C529F566660E57EC68EDBC3C05726CC02FD4CBF4976EAA9A"
    "FD5138FE8376435B9FC61D2FC0EB06E3")
RFC5054_2048 = (
    "AC6BDB41324A9A9BF166DE5E1389582FAF72B6651987EE07FC3192943DB56050A37329CBB4A099ED8193E0757767A13DD52312AB4B03310D"
    "CD7F48A9DA04FD50E8083969EDB767B0CF6095179A163AB3661A05FBD5FAAAE82918A9962F0B93B855F97993EC975EEAA80D740ADBF4FF74"
    "7359D041D5C33EA71D281E446B14773BCA97B43A23FB801676BD207A436C6481F1D2B9078717461A5B9D32E688F87748544523B524B0D57D"
    "5EA77A2775D2ECFA032CFBDBF52FB3786160279004E57AE6AF874E7303CE53299CCC041C7BC308D82A5698F3A8D0C38271AE35F8E9DBFBB6"
    "94B5C803D89F7AE435DE236D525F54759B65E372FCD68EF20FA7111F9E4AFF73")

MEECO = Parameters(RFC5054_2048, 2, "sha256")
RFC5054_TEST_VECTOR = Parameters(RFC5054_1024, 2, "sha1")


def new_verifier(username: str, password: bytes, params: Parameters = MEECO):
    """A fresh 32-byte salt and the verifier, as Register carries them: lowercase hex, v padded to the group."""
    salt = os.urandom(32)
    return salt.hex(), params.pad(params.verifier(salt, username, password)).hex()


class Client:
    """One login: A at construction, M1 from the server's salt and B, then the server's M2 checked."""

    def __init__(self, username: str, password: bytes, params: Parameters = MEECO, a: bytes = None):
        self.params, self.username, self.password = params, username, password
        self.a = params.to_int(a if a is not None else os.urandom(32))
        if self.a == 0:
            raise SRPError("the private value a must not be zero")
        self.A = pow(params.g, self.a, params.N)
        self.expected_m2 = self.K = None

    @property
    def a_hex(self) -> str:
        return self.params.pad(self.A).hex()

    def secret(self, salt: bytes, B: int) -> int:
        """S = (B - k g^x)^(a + u x) mod N; refuses B = 0 (mod N) and u = 0."""
        p = self.params
        if B % p.N == 0:
            raise SRPError("the server sent B = 0 (mod N)")
        u = p.to_int(p.H(p.pad(self.A), p.pad(B)))
        if u == 0:
            raise SRPError("u = 0")
        x = p.x(salt, self.username, self.password)
        return pow((B - p.k * pow(p.g, x, p.N)) % p.N, self.a + u * x, p.N)

    def respond(self, salt_hex: str, b_hex: str) -> str:
        """M1 (lowercase hex) for the server's challenge."""
        p = self.params
        salt, B = bytes.fromhex(salt_hex), int(b_hex, 16)
        if B >= 1 << (8 * p.width):
            raise SRPError("B is longer than the group modulus")
        self.K = p.H(p.pad(self.secret(salt, B)))
        m1 = p.H(p.pad(self.A), p.pad(B), self.K)
        self.expected_m2 = p.H(p.pad(self.A), m1, self.K)
        return m1.hex()

    def verify(self, m2_hex: str) -> None:
        """The server's proof that it knew the verifier, compared in constant time."""
        try:
            m2 = bytes.fromhex(m2_hex)
        except ValueError:
            m2 = b""
        if self.expected_m2 is None or not hmac.compare_digest(m2, self.expected_m2):
            raise SRPError("the server's proof M2 does not match: it does not know this account's verifier")
