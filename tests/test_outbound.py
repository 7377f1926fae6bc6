"""welfare_portal/outbound.py: calls go to public addresses only, to the address that was
checked, within their time limit; TLS keeps the host name. Real sockets on loopback, with
the resolver replaced where a test needs a name to stand for some address."""

import datetime
import ipaddress
import socket
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from django.core.exceptions import ValidationError

from welfare_portal import outbound

LOOPBACK = [ipaddress.ip_network("127.0.0.1/32")]
REAL_GETADDRINFO = socket.getaddrinfo

REFUSED = [
    "127.0.0.1",
    "127.1.2.3",
    "10.1.2.3",
    "172.16.0.1",
    "172.31.255.254",
    "192.168.1.10",
    "169.254.169.254",  # the cloud metadata service
    "100.64.0.1",  # shared (carrier-grade NAT)
    "0.0.0.0",  # noqa: S104 - the unspecified address, refused here
    "224.0.0.251",  # multicast
    "240.0.0.1",  # reserved
    "255.255.255.255",
    "::1",
    "::",
    "fe80::1",
    "fc00::1",
    "fd12:3456::1",
    "ff02::1",
    "fec0::1",
    "::ffff:127.0.0.1",
    "::ffff:169.254.169.254",
    "::ffff:10.0.0.1",
    "2002:7f00:1::1",  # 6to4 of 127.0.0.1
    "64:ff9b::a00:1",  # NAT64 of 10.0.0.1
]
PUBLIC = ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "::ffff:8.8.8.8", "2002:808:808::1"]


@pytest.mark.parametrize("address", REFUSED)
def test_private_and_special_addresses_are_not_public(address):
    assert not outbound.is_public(ipaddress.ip_address(address))
    assert not outbound.is_permitted(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_are(address):
    assert outbound.is_public(ipaddress.ip_address(address))


def test_allowed_networks_let_only_themselves_through():
    assert outbound.is_permitted(ipaddress.ip_address("127.0.0.1"), LOOPBACK)
    assert outbound.is_permitted(ipaddress.ip_address("::ffff:127.0.0.1"), LOOPBACK)
    assert not outbound.is_permitted(ipaddress.ip_address("127.0.0.2"), LOOPBACK)
    assert not outbound.is_permitted(ipaddress.ip_address("::1"), LOOPBACK)


def fake_dns(monkeypatch, answers: dict[str, list]):
    """Names resolve to ``answers[name]``: a list of addresses, or of lists (one per call);
    anything else (IP literals) goes to the real resolver. Returns the names asked."""
    asked = []

    def getaddrinfo(host, port, *args, **kwargs):
        if host not in answers:
            return REAL_GETADDRINFO(host, port, *args, **kwargs)
        asked.append(host)
        answer = answers[host]
        if answer and isinstance(answer[0], list):
            answer = answer[min(len(asked), len(answer)) - 1]
        if not answer:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [
            (socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port))
            for a in answer
        ]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return asked


@pytest.mark.parametrize(
    "url",
    ["file:///etc/passwd", "ftp://partner.example/x", "gopher://partner.example/", "http:///x"],
)
def test_only_http_and_https_urls_with_a_host(url):
    with pytest.raises(outbound.OutboundRefused):
        outbound.check_url(url)


def test_a_name_is_refused_when_any_of_its_addresses_is_private(monkeypatch):
    fake_dns(monkeypatch, {"mixed.test": ["8.8.8.8", "10.0.0.5"], "public.test": ["8.8.8.8"]})
    with pytest.raises(outbound.OutboundRefused, match="10.0.0.5"):
        outbound.check_url("https://mixed.test/hook")
    outbound.check_url("https://public.test/hook")
    with pytest.raises(outbound.OutboundRefused):
        outbound.check_url("http://[::ffff:169.254.169.254]/latest/meta-data/")


def test_the_validator_refuses_private_hosts_and_lets_unresolvable_names_through(
    monkeypatch, settings
):
    settings.WEBHOOK_ALLOWED_PRIVATE_NETWORKS = []
    fake_dns(monkeypatch, {"inside.test": ["192.168.0.7"], "nowhere.test": []})
    validate = outbound.PublicURLValidator()
    with pytest.raises(ValidationError) as refused:
        validate("https://inside.test/hook")
    assert refused.value.code == "private_address"
    assert "inside.test is not a public internet address" in refused.value.messages[0]
    with pytest.raises(ValidationError) as scheme:
        validate("ftp://8.8.8.8/")
    assert scheme.value.code == "scheme"
    validate("https://nowhere.test/hook")  # checked again at every call
    settings.WEBHOOK_ALLOWED_PRIVATE_NETWORKS = ["192.168.0.0/24"]
    validate("https://inside.test/hook")


# --- The transport, on real sockets ---------------------------------------------------------


class Listener:
    """An HTTP(S) server on 127.0.0.1 that records the Host header of each request."""

    def __init__(self, ssl_context=None):
        self.hosts: list[str] = []
        self.sni: list[str | None] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                outer.hosts.append(self.headers["Host"])
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        if ssl_context is not None:
            ssl_context.sni_callback = lambda sock, name, ctx: self.sni.append(name)
            self.server.socket = ssl_context.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_port
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def listener():
    server = Listener()
    yield server
    server.close()


def test_a_name_that_turns_private_at_call_time_is_refused_without_connecting(
    monkeypatch, listener
):
    """DNS rebinding: public when registered, loopback when called."""
    fake_dns(monkeypatch, {"rebind.test": ["127.0.0.1"]})
    with outbound.client(timeout=5, allowed=[]) as http, pytest.raises(outbound.OutboundRefused):
        http.get(f"http://rebind.test:{listener.port}/hook")
    assert listener.hosts == []


def test_the_connection_goes_to_the_address_that_was_checked(monkeypatch, listener):
    """The name is resolved once, by the check; a second look-up (as a client connecting by
    name would make) would get 127.0.0.2, where nothing listens."""
    asked = fake_dns(monkeypatch, {"partner.test": [["127.0.0.1"], ["127.0.0.2"]]})
    with outbound.client(timeout=5, allowed=LOOPBACK) as http:
        response = http.get(f"http://partner.test:{listener.port}/hook")
    assert response.status_code == 204
    assert asked == ["partner.test"]
    assert listener.hosts == [f"partner.test:{listener.port}"]  # the name, for the server


def test_the_setting_is_read_when_no_networks_are_given(settings, listener):
    settings.WEBHOOK_ALLOWED_PRIVATE_NETWORKS = ["127.0.0.1/32"]
    with outbound.client(timeout=5) as http:
        assert http.get(f"http://127.0.0.1:{listener.port}/").status_code == 204
    settings.WEBHOOK_ALLOWED_PRIVATE_NETWORKS = []
    with outbound.client(timeout=5) as http, pytest.raises(outbound.OutboundRefused):
        http.get(f"http://127.0.0.1:{listener.port}/")
    assert len(listener.hosts) == 1


def test_a_trickling_endpoint_is_cut_off_at_the_time_limit():
    """httpx's timeout bounds each read; the call as a whole must end in time too, or the
    delivery's claim would run out while the call still goes on."""
    server = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def trickle():
        connection, _ = server.accept()
        connection.recv(65536)
        for byte in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 100:
            if stop.wait(0.2):
                break
            connection.sendall(bytes([byte]))
        connection.close()

    threading.Thread(target=trickle, daemon=True).start()
    started = time.monotonic()
    try:
        with (
            outbound.client(timeout=1, allowed=LOOPBACK) as http,
            pytest.raises(httpx.TimeoutException),
        ):
            http.get(f"http://127.0.0.1:{server.getsockname()[1]}/")
    finally:
        stop.set()
        server.close()
    assert time.monotonic() - started < 2


def certificate_for(name: str, tmp_path):
    """A self-signed certificate for ``name`` only: (server context, client context)."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(cert_file, key_file)
    client = ssl.create_default_context(cafile=str(cert_file))
    return server, client


def test_tls_sends_and_verifies_the_host_name_not_the_address(monkeypatch, tmp_path):
    server_context, client_context = certificate_for("partner.test", tmp_path)
    server = Listener(ssl_context=server_context)
    fake_dns(monkeypatch, {"partner.test": ["127.0.0.1"]})
    monkeypatch.setattr(httpx, "create_ssl_context", lambda *args, **kwargs: client_context)
    try:
        with outbound.client(timeout=5, allowed=LOOPBACK) as http:
            assert http.get(f"https://partner.test:{server.port}/").status_code == 204
            # The same server by its address: the certificate names partner.test only.
            with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED|IP address"):
                http.get(f"https://127.0.0.1:{server.port}/")
    finally:
        server.close()
    assert server.sni[0] == "partner.test"
    assert server.hosts == [f"partner.test:{server.port}"]
