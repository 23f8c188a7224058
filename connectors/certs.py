"""Test certificates for Modbus/TCP Security: the quarter's writer CA, a server and clients.

:func:`make_test_certs` writes PEM files into a folder: the *quarter writer CA* (signs the
server certificate for 127.0.0.1/localhost and the writer client certificate), and a second,
untrusted CA with its own client certificate for negative tests. Keys are ECDSA P-256. Client
certificates carry the Modbus/TCP Security role extension (OID 1.3.6.1.4.1.50316.802.1, a
UTF8String, here ``"writer"``); the controller server trusts the CA, not the role. These are test
certificates: real deployments issue their own from the operator's PKI.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier

from twin.core.errors import ConfigError

__all__ = ["MODBUS_ROLE_OID", "CertFiles", "client_ssl_context", "make_test_certs"]

#: Modbus/TCP Security role extension (the role is a DER UTF8String).
MODBUS_ROLE_OID: Final[str] = "1.3.6.1.4.1.50316.802.1"
_ORG: Final[str] = "Zukunftsquartier Beucha (test)"


@dataclass(frozen=True)
class CertFiles:
    """The PEM files :func:`make_test_certs` writes (keys unencrypted, mode 0600)."""

    writer_ca: Path
    server_cert: Path
    server_key: Path
    writer_cert: Path
    writer_key: Path
    other_ca: Path
    other_cert: Path
    other_key: Path


def make_test_certs(out_dir: str | Path, *, days: int = 825, overwrite: bool = False) -> CertFiles:
    """Write a test writer CA, a server certificate, a writer client and a foreign CA with client.

    Parameters
    ----------
    out_dir : str or Path
        Folder to write into (created if missing).
    days : int, optional
        Validity of every certificate. [d]
    overwrite : bool, optional
        Replace existing files; otherwise existing files are an error.

    Returns
    -------
    CertFiles
        The paths written.

    Raises
    ------
    ConfigError
        Files exist and ``overwrite`` is false, or ``days`` < 1.
    """
    if days < 1:
        raise ConfigError(f"days = {days}; must be >= 1", field="--days")
    out = Path(out_dir)
    files = CertFiles(
        writer_ca=out / "writer-ca.pem",
        server_cert=out / "server.pem",
        server_key=out / "server.key",
        writer_cert=out / "writer.pem",
        writer_key=out / "writer.key",
        other_ca=out / "other-ca.pem",
        other_cert=out / "other-writer.pem",
        other_key=out / "other-writer.key",
    )
    existing = [path.name for path in vars(files).values() if path.exists()]
    if existing and not overwrite:
        raise ConfigError(f"certificate files exist: {', '.join(existing)}; pass --overwrite to replace", file=str(out))
    out.mkdir(parents=True, exist_ok=True)
    ca_key, ca_cert = _ca("Quarter writer CA", days)
    other_ca_key, other_ca_cert = _ca("Other CA (not trusted)", days)
    server_key, server_cert = _leaf("controller server", ca_key, ca_cert, days, server=True)
    writer_key, writer_cert = _leaf("quarter-writer", ca_key, ca_cert, days, server=False)
    other_key, other_cert = _leaf("foreign-writer", other_ca_key, other_ca_cert, days, server=False)
    _write_cert(files.writer_ca, ca_cert)
    _write_cert(files.other_ca, other_ca_cert)
    for cert_path, key_path, key, cert in (
        (files.server_cert, files.server_key, server_key, server_cert),
        (files.writer_cert, files.writer_key, writer_key, writer_cert),
        (files.other_cert, files.other_key, other_key, other_cert),
    ):
        _write_cert(cert_path, cert)
        _write_key(key_path, key)
    return files


def client_ssl_context(
    ca_file: str | Path, cert_file: str | Path | None, key_file: str | Path | None
) -> ssl.SSLContext:
    """Return a TLS client context that trusts ``ca_file`` and presents a certificate, if given.

    Parameters
    ----------
    ca_file : str or Path
        CA that signed the server's certificate.
    cert_file, key_file : str or Path, optional
        The client's certificate and key (``None``: connect without a certificate).

    Returns
    -------
    ssl.SSLContext
        For ``pymodbus.client.AsyncModbusTlsClient(host, port=, sslctx=...)``.
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_verify_locations(cafile=str(ca_file))
    if cert_file is not None:
        context.load_cert_chain(certfile=str(cert_file), keyfile=str(key_file) if key_file else None)
    return context


# --- helpers ---------------------------------------------------------------------------------


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, _ORG),
        ]
    )


def _validity(builder: x509.CertificateBuilder, days: int) -> x509.CertificateBuilder:
    now = dt.datetime.now(dt.UTC)
    return builder.not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=days))


def _ca(common_name: str, days: int) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = _name(common_name)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    return key, _validity(builder, days).sign(key, hashes.SHA256())


def _leaf(
    common_name: str, ca_key: ec.EllipticCurvePrivateKey, ca_cert: x509.Certificate, days: int, *, server: bool
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    usage = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
    )
    if server:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
    else:
        role = b"writer"
        builder = builder.add_extension(
            x509.UnrecognizedExtension(ObjectIdentifier(MODBUS_ROLE_OID), bytes([0x0C, len(role)]) + role),
            critical=False,
        )
    return key, _validity(builder, days).sign(ca_key, hashes.SHA256())


def _write_cert(path: Path, cert: x509.Certificate) -> None:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    data = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    path.touch(mode=0o600, exist_ok=True)
    path.chmod(0o600)
    path.write_bytes(data)
