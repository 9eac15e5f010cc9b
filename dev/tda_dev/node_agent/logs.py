"""Container logs over the one part of the kubelet API that `kubectl logs [-f]` uses.

Each container's output is a file under the state directory (restarts
append); this serves it to the API server, which proxies `kubectl logs` to
the node's daemonEndpoints port.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from ..net import LOOPBACK
from .volumes import write_file

if TYPE_CHECKING:
    from .node import Agent

log = logging.getLogger("tda-node-agent")


class LogServer:
    """Serves /containerLogs/<ns>/<pod>/<container> over HTTPS for the API server.

    The API server proxies `kubectl logs` to the node's daemonEndpoints port
    without verifying the certificate (no --kubelet-certificate-authority), so
    a self-signed one will do. It listens on loopback only.
    """

    def __init__(self, agent: Agent) -> None:
        import http.server
        import ssl

        self.agent = agent
        cert, key = _self_signed(agent.state_dir / "serving")
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
                log.debug("logs: " + format, *args)

            def do_GET(self) -> None:  # noqa: N802 - the base class's name
                server.handle(self)

        self.httpd = http.server.ThreadingHTTPServer((LOOPBACK, 0), Handler)
        self.httpd.daemon_threads = True
        self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]

    def serve(self) -> None:
        threading.Thread(target=self.httpd.serve_forever, name="logs", daemon=True).start()

    def handle(self, req: Any) -> None:
        from urllib.parse import parse_qs

        url = urlparse(req.path)
        parts = url.path.strip("/").split("/")
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        if len(parts) != 4 or parts[0] != "containerLogs":
            return self._reply(req, 404, b"only /containerLogs is served by the local node agent\n")
        _, ns, pod, container = parts
        path = self.agent.logs_dir / f"{ns}_{pod}_{container}.log"
        if not path.exists():
            return self._reply(req, 404, f"no log for container {container} of pod {ns}/{pod}\n".encode())
        data = path.read_bytes()
        tail = int(query.get("tailLines", -1))
        if tail >= 0:
            data = b"".join(data.splitlines(keepends=True)[-tail:]) if tail else b""
        if "limitBytes" in query:
            data = data[:int(query["limitBytes"])]
        if query.get("follow") != "true":
            return self._reply(req, 200, data)
        req.send_response(200)
        req.send_header("Content-Type", "text/plain")
        req.send_header("Transfer-Encoding", "chunked")
        req.end_headers()
        offset = path.stat().st_size
        try:
            self._chunk(req, data)
            while not self.agent.stop.is_set():
                with open(path, "rb") as f:
                    f.seek(offset)
                    more = f.read()
                offset += len(more)
                self._chunk(req, more)
                if not more and not self.agent.running(ns, pod, container):
                    break
                time.sleep(0.5)
            req.wfile.write(b"0\r\n\r\n")
        except OSError:
            pass  # the client went away

    @staticmethod
    def _chunk(req: Any, data: bytes) -> None:
        if data:
            req.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            req.wfile.flush()

    @staticmethod
    def _reply(req: Any, code: int, body: bytes) -> None:
        req.send_response(code)
        req.send_header("Content-Type", "text/plain")
        req.send_header("Content-Length", str(len(body)))
        req.end_headers()
        req.wfile.write(body)


def _self_signed(prefix: Path) -> tuple[str, str]:
    from datetime import timedelta
    from ipaddress import ip_address

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    cert_file, key_file = prefix.with_suffix(".crt"), prefix.with_suffix(".key")
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "tda-node-agent")])
    start = datetime.now(UTC) - timedelta(minutes=5)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(start)
            .not_valid_after(start + timedelta(days=365))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ip_address(LOOPBACK))]), critical=False)
            .sign(key, hashes.SHA256()))
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    write_file(key_file, key_pem, 0o600)
    write_file(cert_file, cert.public_bytes(serialization.Encoding.PEM), 0o644)
    return str(cert_file), str(key_file)

