"""TLS server contexts, and the self-signed certificate made on first start."""

from __future__ import annotations

import datetime
import os
import ssl
from pathlib import Path


def ensure_self_signed(data_dir: Path, hostname: str) -> tuple[Path, Path]:
    """Return (cert, key) in ``data_dir``, creating a self-signed pair once.

    A fresh install must offer TLS with nothing configured (RFC 8314 asks
    for implicit TLS); a real deployment sets ``[tls] cert``/``key``.
    """
    cert_path = data_dir / "tls-cert.pem"
    key_path = data_dir / "tls-key.pem"
    if cert_path.exists() and key_path.exists():
        return cert_path, key_path

    # Imported here: only the first start needs it.
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostname)])
    now = datetime.datetime.now(datetime.timezone.utc)
    sans = [x509.DNSName(hostname)]
    if hostname != "localhost":
        sans.append(x509.DNSName("localhost"))
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=3650))
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .sign(key, hashes.SHA256())
    )
    data_dir.mkdir(parents=True, exist_ok=True)
    key_bytes = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    tmp_key = key_path.with_suffix(".tmp")
    fd = os.open(tmp_key, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(key_bytes)
    os.replace(tmp_key, key_path)
    tmp_cert = cert_path.with_suffix(".tmp")
    tmp_cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    os.replace(tmp_cert, cert_path)
    return cert_path, key_path


def server_context(cert: Path, key: Path) -> ssl.SSLContext:
    """The ssl module's secure server defaults (no SSLv2/3, no compression,
    no RC4 or unauthenticated suites, server cipher preference), TLS 1.2 or
    later (RFC 8314 section 4.1, RFC 9325), and no client-initiated
    renegotiation in TLS 1.2 (a cheap way to make the server do
    handshakes; TLS 1.3 has none)."""
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.options |= ssl.OP_NO_RENEGOTIATION
    ctx.load_cert_chain(cert, key)
    return ctx


def reload_cert(ctx: ssl.SSLContext, cert: Path, key: Path) -> None:
    """Load a new certificate and key into a live context (SIGHUP): new
    handshakes use them, established sessions keep theirs. The pair is
    first loaded into a scratch context, so a bad or mismatched file raises
    (``ssl.SSLError``/``OSError``) and leaves the live context untouched;
    OpenSSL would otherwise keep a new certificate without its key."""
    server_context(cert, key)
    ctx.load_cert_chain(cert, key)
