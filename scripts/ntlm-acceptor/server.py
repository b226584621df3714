#!/usr/bin/env python3
"""An IIS-like HTTPS endpoint whose NTLM acceptor is pyspnego, not ours.

exchange-auth's NTLM is tested against it (crates/exchange-auth/tests/it/ntlm_acceptor.rs) so
that the client is checked by an implementation that does not share its understanding of
MS-NLMP. Started by start.sh; see there.

Like IIS with Windows authentication, it answers a request without credentials with 401 and
its offers (`WWW-Authenticate: Negotiate` and `NTLM`), a NEGOTIATE message with 401 and the
CHALLENGE under the scheme of the request (raw NTLM, also under Negotiate), and an
AUTHENTICATE message with 200 when pyspnego accepts it, or 401 and the offers when it does
not. The connection is then authenticated: later requests on it need no Authorization.
Extended Protection is required: pyspnego checks the channel binding
(tls-server-end-point, RFC 5929) of the certificate this server presents. NTLMv2 only
(LM_COMPAT_LEVEL=5, as "Send NTLMv2 response only. Refuse LM & NTLM").

The first path segment chooses how it behaves:

  /ntlm/...                  offers Negotiate and NTLM (IIS's default providers)
  /negotiate-only/...        offers Negotiate only and refuses NTLM (the NTLM provider
                             removed); raw NTLM inside Negotiate is accepted
  /close-after-challenge/... as /ntlm, but closes the connection right after the challenge
                             (no `Connection: close`: the client finds out by itself)
  /other-binding/...         expects the binding of another certificate (other.pem), as a
                             server behind a TLS-terminating device would

A 200 answer's body says who was authenticated and how many requests the connection has
carried since: `authenticated CONTOSO\\svc-bems; request 2 on this connection`.

Files in --dir: tls/ca.pem (the CA the client trusts), tls/cert.pem and tls/key.pem (the
server's), tls/other.pem (another certificate of the same CA, never presented), and `port`
(written once the socket listens). Credentials come from the NTLM_USER_FILE of the
environment (`DOMAIN:user:password` lines; `:user@domain:password` for a UPN).
"""

import argparse
import base64
import binascii
import datetime
import hashlib
import http.server
import ipaddress
import os
import ssl
import sys

import spnego
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from spnego.channel_bindings import GssChannelBindings

HOSTS = ["mail.contoso.test", "localhost"]


class Mode:
    def __init__(self, schemes, close_after_challenge=False, other_binding=False):
        self.schemes = schemes
        self.close_after_challenge = close_after_challenge
        self.other_binding = other_binding


MODES = {
    "ntlm": Mode(["Negotiate", "NTLM"]),
    "negotiate-only": Mode(["Negotiate"]),
    "close-after-challenge": Mode(["Negotiate", "NTLM"], close_after_challenge=True),
    "other-binding": Mode(["Negotiate", "NTLM"], other_binding=True),
}


def log(text):
    print("ntlm-acceptor: %s" % text, file=sys.stderr, flush=True)


def make_certificates(tls_dir):
    """A CA, the server's certificate and another one (ECDSA P-256, SHA-256)."""
    os.makedirs(tls_dir, mode=0o700, exist_ok=True)
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bems NTLM acceptor test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )
        .sign(ca_key, hashes.SHA256())
    )

    def leaf(common_name):
        key = ec.generate_private_key(ec.SECP256R1())
        names = [x509.DNSName(h) for h in HOSTS] + [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
            .issuer_name(ca_name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(ca_key, hashes.SHA256())
        )
        return key, cert

    key, cert = leaf(HOSTS[0])
    _, other = leaf("another " + HOSTS[0])
    pem = serialization.Encoding.PEM
    with open(os.path.join(tls_dir, "ca.pem"), "wb") as f:
        f.write(ca.public_bytes(pem))
    with open(os.path.join(tls_dir, "cert.pem"), "wb") as f:
        f.write(cert.public_bytes(pem))
    with open(os.path.join(tls_dir, "other.pem"), "wb") as f:
        f.write(other.public_bytes(pem))
    key_path = os.path.join(tls_dir, "key.pem")
    with open(os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as f:
        f.write(
            key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        )
    return cert, other


def binding(cert):
    """The tls-server-end-point channel binding of `cert` (signed with SHA-256: hashed with it)."""
    der = cert.public_bytes(serialization.Encoding.DER)
    return GssChannelBindings(application_data=b"tls-server-end-point:" + hashlib.sha256(der).digest())


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "bems-ntlm-acceptor"
    sys_version = ""

    def setup(self):
        self.request.settimeout(30)
        self.request.do_handshake()
        super().setup()
        self.context = None  # the pyspnego acceptor of a handshake under way
        self.principal = None  # who authenticated this connection
        self.requests = 0  # requests since then

    def log_message(self, format, *args):
        pass

    def do_GET(self):
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        mode = MODES.get(self.path.lstrip("/").split("/")[0])
        if mode is None:
            return self.answer(404, b"unknown mode\n")
        authorization = self.headers.get("Authorization")
        if not authorization:
            if self.principal:
                self.requests += 1
                return self.authenticated()
            return self.offer(mode)
        scheme, _, token = authorization.partition(" ")
        scheme = next((s for s in mode.schemes if s.lower() == scheme.lower()), None)
        if scheme is None:
            return self.offer(mode, "scheme not offered")
        try:
            token = base64.b64decode(token.strip(), validate=True)
        except (binascii.Error, ValueError):
            return self.offer(mode, "token not base64")
        if token[8:12] == b"\x01\x00\x00\x00":
            # A NEGOTIATE message starts a handshake (again, on an authenticated connection).
            self.principal = None
            bindings = self.server.other_binding if mode.other_binding else self.server.binding
            self.context = spnego.server(
                hostname=HOSTS[0], service="HTTP", protocol="ntlm", channel_bindings=bindings
            )
        elif self.context is None:
            return self.offer(mode, "no handshake under way")
        try:
            out = self.context.step(token)
        except Exception as error:  # pyspnego refuses: wrong password, binding, MIC, ...
            log("refused %s: %s" % (scheme, error))
            self.context = None
            return self.offer(mode, "refused")
        if self.context.complete:
            self.principal = self.context.client_principal
            self.context = None
            self.requests = 1
            log("authenticated %s under %s" % (self.principal, scheme))
            return self.authenticated()
        offer = "%s %s" % (scheme, base64.b64encode(out).decode())
        self.answer(401, b"challenge\n", [("WWW-Authenticate", offer)])
        if mode.close_after_challenge:
            self.close_connection = True

    do_POST = do_GET

    def authenticated(self):
        body = "authenticated %s; request %d on this connection\n" % (self.principal, self.requests)
        self.answer(200, body.encode())

    def offer(self, mode, reason=None):
        if reason:
            log("401 (%s)" % reason)
        self.answer(401, b"unauthorized\n", [("WWW-Authenticate", s) for s in mode.schemes])

    def answer(self, status, body, headers=()):
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()  # the head goes out here; the body in a write of its own
        self.wfile.write(body)


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        log("connection from %s ended: %s" % (client_address[0], sys.exc_info()[1]))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dir", required=True, help="state directory (certificates, port file)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0: any free port")
    args = parser.parse_args()
    if not os.path.isfile(os.environ.get("NTLM_USER_FILE", "")):
        sys.exit("ntlm-acceptor: NTLM_USER_FILE must name the credentials file")
    os.environ["LM_COMPAT_LEVEL"] = "5"
    tls_dir = os.path.join(args.dir, "tls")
    cert, other = make_certificates(tls_dir)
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.minimum_version = ssl.TLSVersion.TLSv1_2
    tls.load_cert_chain(os.path.join(tls_dir, "cert.pem"), os.path.join(tls_dir, "key.pem"))
    server = Server((args.host, args.port), Handler)
    server.socket = tls.wrap_socket(server.socket, server_side=True, do_handshake_on_connect=False)
    server.binding = binding(cert)
    server.other_binding = binding(other)
    port = server.server_address[1]
    with open(os.path.join(args.dir, "port.tmp"), "w") as f:
        f.write("%d\n" % port)
    os.replace(os.path.join(args.dir, "port.tmp"), os.path.join(args.dir, "port"))
    log("listening on https://%s:%d (pyspnego %s)" % (args.host, port, spnego_version()))
    server.serve_forever()


def spnego_version():
    try:
        from importlib.metadata import version

        return version("pyspnego")
    except Exception:
        return "unknown version"


if __name__ == "__main__":
    main()
