"""svx RPC over ZeroMQ (docs/rpc.md): a DEALER socket sends one frame, a serialized `svx.rpc.v1.Request`, and reads
one `svx.rpc.v1.Response` back, matched by request id. Every socket speaks CURVE, pinning the service's public key,
unless SVX_TRANSPORT=plaintext. The protobuf classes are generated from the repository's proto/ files at run time.
"""

import hashlib
import importlib
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
PROTO_DIR = os.path.normpath(os.path.join(HERE, "..", "..", "proto"))
GENERATED_DIR = os.path.join(HERE, "generated")
SERVICES = ("auth", "keystore", "vault", "sharing", "classification")
MECHANISM_MISMATCH = 0x11000002  # ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH
DEFAULT_PORTS = {"auth": 7101, "keystore": 7102, "vault": 7103, "sharing": 7104, "classification": 7105}

# gRPC's canonical codes, as svx.rpc.v1.Code numbers them.
CODES = ["OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND", "ALREADY_EXISTS",
         "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED",
         "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED"]


class RPCError(Exception):
    """A call that failed: a status from the service, or one this client decided on (deadline, no handshake)."""

    def __init__(self, code: str, message: str, details=None):
        super().__init__(f"{code}: {message}")
        self.code, self.message, self.details = code, message, dict(details or {})


class ConfigurationError(Exception):
    pass


def load_protos():
    """Generates Python from proto/ with protoc (once per content of proto/, into generated/<digest>/) and imports
    the modules this client uses."""
    files = sorted(os.path.relpath(os.path.join(d, f), PROTO_DIR)
                   for d, _, names in os.walk(PROTO_DIR) for f in names if f.endswith(".proto"))
    if not files:
        raise ConfigurationError(f"no .proto files under {PROTO_DIR}")
    digest = hashlib.sha256()
    for name in files:
        with open(os.path.join(PROTO_DIR, name), "rb") as f:
            digest.update(name.encode() + b"\0" + f.read())
    target = os.path.join(GENERATED_DIR, digest.hexdigest()[:16])
    if not os.path.isdir(target):
        os.makedirs(GENERATED_DIR, exist_ok=True)
        protoc = os.environ.get("SVX_PROTOC") or shutil.which("protoc")
        if not protoc:
            raise ConfigurationError(
                "protoc not found: install protobuf-compiler (scripts/install-deps.sh) or set SVX_PROTOC")
        scratch = tempfile.mkdtemp(dir=GENERATED_DIR, prefix=".tmp-")
        try:
            result = subprocess.run([protoc, "-I", PROTO_DIR, f"--python_out={scratch}", *files],
                                    capture_output=True, text=True, timeout=60)
            if result.returncode != 0:
                raise ConfigurationError(f"protoc failed: {result.stderr.strip()}")
            try:
                os.rename(scratch, target)  # atomic; a concurrent run may have made it first
            except OSError:
                if not os.path.isdir(target):
                    raise
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    sys.path.insert(0, target)
    names = {"rpc": "svx.rpc.v1.rpc_pb2", "auth": "svx.auth.v1.auth_pb2",
             "keystore": "svx.keystore.v1.keystore_pb2", "vault": "svx.vault.v1.vault_pb2"}
    return {key: importlib.import_module(module) for key, module in names.items()}


def z85_public_key(text: str, where: str) -> bytes:
    import zmq.utils.z85
    text = text.strip()
    try:
        key = zmq.utils.z85.decode(text.encode("ascii")) if len(text) == 40 else b""
    except (ValueError, KeyError, UnicodeEncodeError):
        key = b""
    if len(key) != 32:
        raise ConfigurationError(f"{where}: expected a CURVE public key, 40 Z85 characters")
    return key


def server_public_key(service: str, environ=os.environ):
    """The key to pin for `service` as docs/rpc.md says: None in plaintext; SVX_<SERVICE>_PUBLIC_KEY, else
    $SVX_KEYS_DIR/<service>.pub."""
    text = environ.get("SVX_TRANSPORT") or "curve"
    mode = text.lower()
    if mode not in ("curve", "plaintext"):
        raise ConfigurationError(f"SVX_TRANSPORT: expected curve or plaintext, got {text!r}")
    if mode == "plaintext":
        return None
    variable = f"SVX_{service.upper()}_PUBLIC_KEY"
    if environ.get(variable):
        return z85_public_key(environ[variable], variable)
    directory = environ.get("SVX_KEYS_DIR")
    if directory and os.path.exists(os.path.join(directory, f"{service}.pub")):
        path = os.path.join(directory, f"{service}.pub")
        with open(path, encoding="ascii", errors="replace") as f:
            return z85_public_key(f.read(), f"SVX_KEYS_DIR ({path})")
    raise ConfigurationError(
        f"{variable}: no public key for {service}: set it (40 Z85 characters), or SVX_KEYS_DIR to a directory with "
        f"{service}.pub (`make up` makes them in .svx/stack/keys); SVX_TRANSPORT=plaintext turns CURVE off")


def endpoint(service: str, environ=os.environ) -> str:
    return environ.get(f"SVX_{service.upper()}_ENDPOINT") or f"tcp://127.0.0.1:{DEFAULT_PORTS[service]}"


class Client:
    """One DEALER socket to one service. Calls are made one at a time; each has a deadline, sent to the server as
    absolute `deadline_ms`, and every wait on the socket is a poll bounded by it."""

    def __init__(self, service: str, protos, environ=os.environ, timeout: float = 10.0):
        import zmq
        self.zmq, self.rpc, self.timeout = zmq, protos["rpc"], timeout
        self.service, self.endpoint = service, endpoint(service, environ)
        server_key = server_public_key(service, environ)
        self.context = zmq.Context(io_threads=1)
        self.socket = self.context.socket(zmq.DEALER)
        for option, value in ((zmq.IMMEDIATE, 1), (zmq.LINGER, 0), (zmq.MAXMSGSIZE, 64 << 20),
                              (zmq.HEARTBEAT_IVL, 5000), (zmq.HEARTBEAT_TIMEOUT, 15000)):
            self.socket.setsockopt(option, value)
        self.monitor = None
        if server_key is not None:
            public, secret = zmq.curve_keypair()  # a throwaway client key, as users' clients have
            self.socket.curve_serverkey = server_key
            self.socket.curve_publickey, self.socket.curve_secretkey = public, secret
            self.monitor = self.socket.get_monitor_socket(
                zmq.EVENT_CONNECTED | zmq.EVENT_DISCONNECTED | zmq.EVENT_HANDSHAKE_SUCCEEDED
                | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL
                | zmq.EVENT_HANDSHAKE_FAILED_AUTH)
            self.handshake = {"connected": False, "secured": False, "failed": 0, "last": None}
        try:
            self.socket.connect(self.endpoint)
        except zmq.ZMQError as error:
            self.close()
            raise ConfigurationError(f"SVX_{service.upper()}_ENDPOINT: {self.endpoint!r} is not usable: {error}") from None
        self.next_id = 1

    def close(self):
        if self.monitor is not None:
            self.socket.disable_monitor()
            self.monitor.close(linger=0)
        self.socket.close(linger=0)
        self.context.term()

    def handshake_failure(self):
        """Why nothing got through, if the connection came up but the CURVE handshake did not (the Swift client's
        HandshakeWatch, with the reasons as libzmq reports them); None otherwise."""
        if self.monitor is None:
            return None
        from zmq.utils.monitor import recv_monitor_message
        zmq, state = self.zmq, self.handshake
        for _ in range(10_000):  # bounded drain
            if not self.monitor.poll(0):
                break
            message = recv_monitor_message(self.monitor)
            event = message["event"]
            if event == zmq.EVENT_CONNECTED:
                state["connected"], state["secured"] = True, False
            elif event == zmq.EVENT_HANDSHAKE_SUCCEEDED:
                state["secured"], state["failed"] = True, 0
            elif event == zmq.EVENT_DISCONNECTED:
                if state["connected"] and not state["secured"]:
                    state["failed"] += 1
                state["connected"] = state["secured"] = False
            else:
                state["failed"], state["last"] = state["failed"] + 1, (event, message["value"])
        if state["secured"] or state["failed"] == 0:
            return None
        # What libzmq reports (checked with 4.3.4 and 4.3.5): a server that cannot open our HELLO (another key than
        # the pinned one) drops the connection, a failure with no detail; against a plaintext server, the side that
        # reads the other's greeting first reports a mechanism mismatch and closes, so the other may see no detail.
        event, value = state["last"] or (None, None)
        if event == zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL:
            why = ("the server ended the handshake: its public key is not the one pinned for it, or it does not speak "
                   "CURVE (SVX_TRANSPORT=plaintext)")
        elif event == zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL and value == MECHANISM_MISMATCH:
            why = "the server does not speak CURVE (is it run with SVX_TRANSPORT=plaintext?)"
        elif event == zmq.EVENT_HANDSHAKE_FAILED_AUTH:
            why = "the server refused this client"
        else:
            why = "the server's public key is not the one pinned for it, or the server does not speak CURVE"
        return f"no CURVE handshake with {self.endpoint} ({state['failed']} failed): {why}"

    def call(self, method: str, request, response_type, token: str = "", timeout: float = None):
        """Sends `request` to `method` and returns the decoded `response_type`; raises RPCError for a non-OK status,
        and DEADLINE_EXCEEDED / UNAVAILABLE when no answer comes in time."""
        zmq = self.zmq
        request_id, self.next_id = self.next_id, self.next_id + 1
        timeout = timeout or self.timeout
        deadline = time.monotonic() + timeout
        envelope = self.rpc.Request(method=method, request_id=request_id, session_token=token,
                                    deadline_ms=int((time.time() + timeout) * 1000), payload=request.SerializeToString())
        frame = envelope.SerializeToString()

        def wait(flag):  # one poll, bounded by the deadline
            remaining = deadline - time.monotonic()
            if remaining > 0:
                self.socket.poll(max(1, int(remaining * 1000)), flag)

        while True:  # with ZMQ_IMMEDIATE a send waits until the connection (and its handshake) is up
            try:
                self.socket.send(frame, zmq.NOBLOCK)
                break
            except zmq.Again:
                if time.monotonic() >= deadline:
                    raise RPCError("UNAVAILABLE", self.handshake_failure()
                                   or f"no connection to {self.service} at {self.endpoint} within the deadline") from None
                wait(zmq.POLLOUT)
        while True:
            if time.monotonic() >= deadline:
                raise RPCError("DEADLINE_EXCEEDED", f"{method}: no answer from {self.service} within the deadline")
            try:
                frames = self.socket.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                wait(zmq.POLLIN)
                continue
            response = self.rpc.Response()
            try:
                response.ParseFromString(frames[-1])
            except Exception:
                continue  # not a Response: dropped, like the Swift client does
            if response.request_id != request_id:
                continue  # a late answer to an earlier call
            code = CODES[response.status.code] if 0 <= response.status.code < len(CODES) else str(response.status.code)
            if code != "OK":
                raise RPCError(code, response.status.message, response.status.details)
            result = response_type()
            try:
                result.ParseFromString(response.payload)
            except Exception:
                raise RPCError("INTERNAL", f"{method}: invalid response payload") from None
            return result
