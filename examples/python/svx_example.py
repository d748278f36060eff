#!/usr/bin/env python3
"""A second-language svx client: signs up (or logs in), stores an item with an encrypted slot, reads it back and
decrypts it. It uses only the proto files, the docs (docs/rpc.md, reference/meeco-compat.md) and pyzmq: no Swift.

    python3 svx_example.py [--json] [--value TEXT] [--timeout SECONDS]
    python3 svx_example.py --self-test

Environment: SVX_{AUTH,KEYSTORE,VAULT}_ENDPOINT (default the local stack, tcp://127.0.0.1:7101..7103),
SVX_TRANSPORT, SVX_KEYS_DIR, SVX_<SERVICE>_PUBLIC_KEY (docs/rpc.md, "CURVE"), SVX_PASSPHRASE (default: a demo
passphrase), SVX_SECRET_KEY (log in as that user instead of signing up). See README.md.
"""

import argparse
import json
import os
import sys

try:
    import cryptography  # noqa: F401
    import google.protobuf  # noqa: F401
    import zmq  # noqa: F401
except ImportError as missing:
    sys.exit(f"svx_example: error: the Python package {missing.name!r} is missing: pip install -r "
             f"{os.path.join(os.path.dirname(os.path.abspath(__file__)), 'requirements.txt')} "
             "(scripts/install-deps.sh makes a venv with them in .svx/python)")

import cryppo
import rpc
import srp
from cryppo import CryppoError, SecretKey

DEMO_PASSPHRASE = "correct horse battery staple, python edition"
KEK_CHECK_LABEL = b"svx-kek-check-v1"
AUTH_KEYPAIR_ID, PRIVATE_DEK_ID = "auth", "private"  # the Keystore external ids the Swift SDK uses
TEMPLATE, SLOT = "secure_note", "note"               # a system template of the Vault and its one slot


class FlowError(Exception):
    pass


def progress(text):
    print(f"svx_example: {text}", file=sys.stderr, flush=True)


class Services:
    """A client of Auth, the Keystore and the Vault each, the generated message modules, and the session token that
    every call carries once logged in."""

    def __init__(self):
        self.clients, self.token = {}, ""

    def open(self, protos, timeout):
        self.p = protos
        for name in ("auth", "keystore", "vault"):
            self.clients[name] = rpc.Client(name, protos, timeout=timeout)
        return self

    def call(self, method, request, response_type):
        """`method` is "svx.<service>.v1.<Service>/<Method>": the service it names answers it."""
        return self.clients[method.split(".")[1]].call(method, request, response_type, token=self.token)

    def close(self):
        for client in self.clients.values():
            client.close()


def sign_up(s, passphrase):
    """ReserveUsername, a new Secret Key, Register the SRP salt and verifier (the passphrase never leaves)."""
    A = s.p["auth"]
    username = s.call("svx.auth.v1.Auth/ReserveUsername", A.ReserveUsernameRequest(), A.ReserveUsernameResponse).username
    secret_key = SecretKey.generate(username)
    salt_hex, verifier_hex = srp.new_verifier(username, secret_key.srp_password(passphrase))
    register = A.RegisterRequest(username=username, srp_salt_hex=salt_hex, srp_verifier_hex=verifier_hex)
    s.call("svx.auth.v1.Auth/Register", register, A.RegisterResponse)
    return secret_key


def log_in(s, secret_key, passphrase):
    """SRP-6a: BeginLogin (A) -> M1 -> FinishLogin; the session is trusted only once the server's M2 checks out."""
    A = s.p["auth"]
    client = srp.Client(secret_key.username, secret_key.srp_password(passphrase))
    begin = A.BeginLoginRequest(username=secret_key.username, srp_a_hex=client.a_hex)
    challenge = s.call("svx.auth.v1.Auth/BeginLogin", begin, A.BeginLoginResponse)
    try:
        m1_hex = client.respond(challenge.srp_salt_hex, challenge.srp_b_hex)
    except (ValueError, srp.SRPError) as error:
        raise FlowError(f"Auth sent an unusable login challenge: {error}") from None
    finish = A.FinishLoginRequest(login_id=challenge.login_id, srp_m1_hex=m1_hex)
    finished = s.call("svx.auth.v1.Auth/FinishLogin", finish, A.FinishLoginResponse)
    client.verify(finished.srp_m2_hex)
    return finished


def kek_check(kek):
    """The Ed25519 public key with seed HMAC-SHA256(KEK, "svx-kek-check-v1") (docs/ADR-004-keystore.md)."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
    seed = cryppo.hmac_sha256(kek, KEK_CHECK_LABEL)
    return Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def create_keys(s, pdk):
    """The key hierarchy of a new account, as the SDK makes it: a KEK wrapped by the PDK (with its KEK check), the
    RSA-4096 `auth` keypair and the private DEK, both wrapped by the KEK."""
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat
    K = s.p["keystore"]
    kek = os.urandom(32)
    derivation = K.DerivationArtefacts(algorithm="PBKDF2-HMAC-SHA256", salt_source="secret_key",
                                       iterations=SecretKey.ITERATIONS, key_length=32, version=1)
    create = K.CreateKEKRequest(wrapped_kek=cryppo.encrypt(kek, pdk), derivation=derivation, kek_check=kek_check(kek))
    created = s.call("svx.keystore.v1.Keystore/CreateKEK", create, K.CreateKEKResponse)
    version = created.kek.kek_version
    progress("generating the RSA-4096 account keypair")
    private_key = rsa.generate_private_key(public_exponent=65537, key_size=4096)
    private_pem = private_key.private_bytes(Encoding.PEM, PrivateFormat.TraditionalOpenSSL, NoEncryption())  # PKCS#1
    public_pem = private_key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode()
    create = K.CreateKeypairRequest(public_key_pem=public_pem, wrapped_private_key=cryppo.encrypt(private_pem, kek),
                                    external_identifiers=[AUTH_KEYPAIR_ID], kek_version=version)
    keypair = s.call("svx.keystore.v1.Keystore/CreateKeypair", create, K.CreateKeypairResponse).keypair
    dek = os.urandom(32)
    create = K.CreateDEKRequest(external_id=PRIVATE_DEK_ID, kek_version=version, wrapped_dek=cryppo.encrypt(dek, kek))
    stored = s.call("svx.keystore.v1.Keystore/CreateDEK", create, K.CreateDEKResponse).dek
    return dek, stored.dek_id, keypair.keypair_id


def open_keys(s, generation, pdk):
    """A login's keys: the KEK wrapped for the login's credential generation, opened with the PDK, then the private
    DEK, opened with the KEK."""
    K = s.p["keystore"]
    got = s.call("svx.keystore.v1.Keystore/GetKEK", K.GetKEKRequest(credential_generation=generation), K.GetKEKResponse)
    d = got.kek.derivation
    known = ("PBKDF2-HMAC-SHA256", "secret_key", SecretKey.ITERATIONS, 32)
    if (d.algorithm, d.salt_source, d.iterations, d.key_length) != known:
        raise FlowError("the KEK was wrapped with a key derivation this client does not know")
    kek = unwrap(got.kek.wrapped_kek, pdk, "the KEK (wrong passphrase?)")
    stored = s.call("svx.keystore.v1.Keystore/GetDEK", K.GetDEKRequest(external_id=PRIVATE_DEK_ID), K.GetDEKResponse).dek
    if stored.kek_version != got.kek.kek_version:
        raise FlowError("the keys were rotated while they were being opened: run again")
    return unwrap(stored.wrapped_dek, kek, "the private DEK"), stored.dek_id


def unwrap(wrapped, key, what):
    try:
        plain = cryppo.decrypt(wrapped, key)
    except CryppoError:
        raise FlowError(f"could not unwrap {what}") from None
    if len(plain) != 32:
        raise FlowError(f"{what} unwrapped to {len(plain)} bytes, not 32")
    return plain


def ensure_vault_user(s):
    """The Vault's record of which Keystore DEK wraps this user's values (Meeco's private_dek_external_id)."""
    V = s.p["vault"]
    try:
        user = s.call("svx.vault.v1.Vault/GetVaultUser", V.GetVaultUserRequest(), V.GetVaultUserResponse).user
        if user.private_dek_external_id == PRIVATE_DEK_ID:
            return
    except rpc.RPCError as error:
        if error.code != "NOT_FOUND":
            raise
    put = V.PutVaultUserRequest(private_dek_external_id=PRIVATE_DEK_ID)
    s.call("svx.vault.v1.Vault/PutVaultUser", put, V.PutVaultUserResponse)


def run(s, passphrase, value, label, secret_key_text):
    if secret_key_text:
        secret_key, signed_up = SecretKey.parse(secret_key_text), False
    else:
        progress("reserving a username and registering an SRP verifier")
        secret_key, signed_up = sign_up(s, passphrase), True
    progress(f"logging in as {secret_key.username} (SRP-6a)")
    session = log_in(s, secret_key, passphrase)
    s.token = session.session_token  # every call from here on carries it in the envelope
    pdk = secret_key.pdk(passphrase)
    keypair_id = None
    if signed_up:
        progress("creating the key hierarchy at the Keystore")
        dek, dek_id, keypair_id = create_keys(s, pdk)
    else:
        progress("opening the key hierarchy from the Keystore")
        dek, dek_id = open_keys(s, session.credential_generation, pdk)
    ensure_vault_user(s)

    V = s.p["vault"]
    progress(f"creating a {TEMPLATE} item with an encrypted {SLOT} slot, reading it back")
    slot = V.SlotInput(name=SLOT, encrypted_value=cryppo.encrypt(value.encode(), dek))
    create = V.CreateItemRequest(template_name=TEMPLATE, label=label, slots=[slot])
    item = s.call("svx.vault.v1.Vault/CreateItem", create, V.CreateItemResponse).item
    got = s.call("svx.vault.v1.Vault/GetItem", V.GetItemRequest(item_id=item.item_id), V.GetItemResponse).item
    stored = next((x for x in got.slots if x.name == SLOT), None)
    if stored is None or not stored.encrypted_value:
        raise FlowError(f"item {got.item_id} came back without a value in its {SLOT} slot")
    try:
        decrypted = cryppo.decrypt(stored.encrypted_value, dek).decode("utf-8")
    except (CryppoError, UnicodeDecodeError) as error:
        raise FlowError(f"the {SLOT} slot of item {got.item_id} does not decrypt: {error}") from None
    if decrypted != value:
        raise FlowError(f"the {SLOT} slot of item {got.item_id} decrypted to another value than the one stored")
    return {"username": secret_key.username, "user_id": session.user_id, "signed_up": signed_up,
            "secret_key": str(secret_key), "private_dek_id": dek_id, "auth_keypair_id": keypair_id,
            "item_id": got.item_id, "item_label": got.label, "slot": SLOT, "value": decrypted}


def self_test():
    """The worked examples of reference/meeco-compat.md, through the code the flow uses."""
    failures, checks = [], 0

    def check(name, got, expected):
        nonlocal checks
        checks += 1
        if got != expected:
            failures.append(f"{name}: got {got!r}, expected {expected!r}")

    import base64
    # Byte-exact current-format writer.
    check("Cryppo writer", cryppo.format_aes(base64.b64decode("J3pTWPyK5Y2t/JvK+Q9r90IBu7g="),
                                             bytes.fromhex("2f6e2bf4b01114c2e3d22f4a"),
                                             bytes.fromhex("f55b76a4136cc1ad2193aeeb3b82b4b8")),
          "Aes256Gcm.J3pTWPyK5Y2t_JvK-Q9r90IBu7g=.QUAAAAAFaXYADAAAAAAvbiv0sBEUwuPSL0oFYXQAEAAAAAD1W3akE2zBrSGTrus7grS4AmFkAAUAAABub25lAAA=")
    key = os.urandom(32)
    sealed = cryppo.encrypt(b"some secret data", key)
    check("AES-GCM round trip", cryppo.decrypt(sealed, key), b"some secret data")
    try:
        cryppo.decrypt(sealed, os.urandom(32))
        check("a wrong key is refused", "decrypted", "refused")
    except CryppoError:
        check("a wrong key is refused", "refused", "refused")
    check("PBKDF2", cryppo.b64encode(cryppo.pbkdf2(b"GreatPassphrase#2001!",
                                                   bytes.fromhex("f8d467297c3d710421a2f9f1b050b1402a514525"), 21_908)),
          "1rMApWtrHGQe4coUBxvCzbSo5KWAavLDXT5ajVWDP3E=")
    check("base58", cryppo.base58(b"Hello World!"), "2NEpo7TZRRrLZSi2U")
    check("HMAC", cryppo.hmac_sha256(bytes(range(64)), b"Toyota Corolla").hex(),
          "98c1bf56d727968598a26c3fb00d988c06e5e31418d24423b0adaca053151e51")
    # Secret Key, PDK and SRP password.
    secret = SecretKey.parse("1.M9znjHbD5Xi.xQCSCK-8A1d6d-emUjx8-YVGDcT-UhctWy-2rfHyv-7JNAgh-9")
    check("Secret Key round trip", str(secret), "1.M9znjHbD5Xi.xQCSCK-8A1d6d-emUjx8-YVGDcT-UhctWy-2rfHyv-7JNAgh-9")
    check("PDK", cryppo.b64encode(secret.pdk("supersecretpassword")), "24rdL_ugryujjDLcvwt00ARWWMCF4kk4gJETJy6yRjs=")
    check("SRP raw key", secret.srp_raw_key("supersecretpassword").hex(),
          "99add08f62e26c1e145479f42c3aa8688cbfc9b220238f69fbe7448a82967173")
    check("SRP password", secret.srp_password("supersecretpassword").hex(),
          "c299c2adc390c28f62c3a26c1e145479c3b42c3ac2a868c28cc2bfc389c2b22023c28f69c3bbc3a744c28ac282c2967173")
    # RFC 5054 Appendix B through the production code path (1024-bit group, SHA-1).
    p = srp.RFC5054_TEST_VECTOR
    salt = bytes.fromhex("BEB25379D1A8581EB5A727673A2441EE")
    v = int("7E273DE8696FFC4F4E337D05B4B375BEB0DDE1569E8FA00A9886D8129BADA1F1822223CA1A605B530E379BA4729FDC59F105B4787E"
            "5186F5C671085A1447B52A48CF1970B4FB6F8400BBF4CEBFBB168152E08AB5EA53D15C1AFF87B2B9DA6E04E058AD51CC72BFC9033B56"
            "4E26480D78E955A5E29E7AB245DB2BE315E2099AFB", 16)
    A = int("61D5E490F6F1B79547B0704C436F523DD0E560F0C64115BB72557EC44352E8903211C04692272D8B2D1A5358A2CF1B6E0BFCF99F92"
            "1530EC8E39356179EAE45E42BA92AEACED825171E1E8B9AF6D9C03E1327F44BE087EF06530E69F66615261EEF54073CA11CF5858F0ED"
            "FDFE15EFEAB349EF5D76988A3672FAC47B0769447B", 16)
    B = int("BD0C61512C692C0CB6D041FA01BB152D4916A1E77AF46AE105393011BAF38964DC46A0670DD125B95A981652236F99D9B681CBF878"
            "37EC996C6DA04453728610D0C6DDB58B318885D7D82C7F8DEB75CE7BD4FBAA37089E6F9C6059F388838E7A00030B331EB76840910440"
            "B1B27AAEAEEB4012B7D7665238A8E3FB004B117B58", 16)
    S = int("B0DC82BABCF30674AE450C0287745E7990A3381F63B387AAF271A10D233861E359B48220F7C4693C9AE12B0A6F67809F0876E2D013"
            "800D6C41BB59B6D5979B5C00A172B4A2A5903A0BDCAF8A709585EB2AFAFA8F3499B200210DCC1F10EB33943CD67FC88A2F39A4BE5BEC"
            "4EC0A3212DC346D7E474B29EDE8A469FFECA686E5A", 16)
    b = int("E487CB59D31AC550471E81F00F6928E01DDA08E974A004F49E61F5D105284D20", 16)
    check("SRP k", p.k, int("7556AA045AEF2CDD07ABAF0F665C3E818913186F", 16))
    check("SRP x", p.x(salt, "alice", b"password123"), int("94B7555AABE9127CC58CCF4993DB6CF84D16C124", 16))
    check("SRP v", p.verifier(salt, "alice", b"password123"), v)
    a = bytes.fromhex("60975527035CF2AD1989806F0407210BC81EDC04E2762A56AFD529DDDA2D4393")
    client = srp.Client("alice", b"password123", p, a=a)
    check("SRP A", client.A, A)
    check("SRP B", (p.k * v + pow(p.g, b, p.N)) % p.N, B)
    check("SRP u", p.to_int(p.H(p.pad(A), p.pad(B))), int("CE38B9593487DA98554ED47D70A7AE5F462EF019", 16))
    check("SRP S", client.secret(salt, B), S)
    # M1 and M2 in the Meeco form, against the server side's own math.
    m1 = client.respond(salt.hex(), p.pad(B).hex())
    K = p.H(p.pad(S))
    check("SRP M1", m1, p.H(p.pad(A), p.pad(B), K).hex())
    client.verify(p.H(p.pad(A), bytes.fromhex(m1), K).hex())
    try:
        client.verify("00" * 20)
        check("a wrong M2 is refused", "accepted", "refused")
    except srp.SRPError:
        check("a wrong M2 is refused", "refused", "refused")
    check("production group width", srp.MEECO.width, 256)
    for failure in failures:
        print(f"self-test FAILED {failure}", file=sys.stderr)
    print(f"self-test: {checks - len(failures)} of {checks} checks passed")
    return 1 if failures else 0


def main():
    parser = argparse.ArgumentParser(description="svx from Python: sign up, log in, store and read an encrypted item.")
    parser.add_argument("--json", action="store_true",
                        help="print a JSON object (it includes the Secret Key: for tests and demos only)")
    parser.add_argument("--value", default="Hello from Python", help="the note to encrypt and store")
    parser.add_argument("--label", default="Python note", help="the item's label (labels are not encrypted)")
    parser.add_argument("--timeout", type=float, default=10.0, help="deadline of each call in seconds (default 10)")
    parser.add_argument("--self-test", action="store_true", help="check the crypto against the documented vectors")
    args = parser.parse_args()
    if args.self_test:
        return self_test()
    if not args.value:
        parser.error("--value must not be empty (an empty value is stored as no value)")
    services = Services()
    try:
        passphrase = os.environ.get("SVX_PASSPHRASE") or DEMO_PASSPHRASE
        services.open(rpc.load_protos(), args.timeout)
        result = run(services, passphrase, args.value, args.label, os.environ.get("SVX_SECRET_KEY"))
    except rpc.RPCError as error:
        details = "".join(f" [{k}={v}]" for k, v in sorted(error.details.items()))
        print(f"svx_example: error: {error.code}: {error.message}{details}", file=sys.stderr)
        return 1
    except (rpc.ConfigurationError, CryppoError, srp.SRPError, FlowError) as error:
        print(f"svx_example: error: {error}", file=sys.stderr)
        return 1
    finally:
        services.close()
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"{'signed up' if result['signed_up'] else 'logged in'} as {result['username']} (user {result['user_id']})")
        print(f"item {result['item_id']} ({result['item_label']}): slot {SLOT} decrypts to {result['value']!r}")
        if result["signed_up"]:
            print("the Secret Key is not shown: run with --json to see it (needed to log in again)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
