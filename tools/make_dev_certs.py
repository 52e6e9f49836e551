"""Make a local certificate authority and certificates for paycore's TLS, for development and tests.

    python tools/make_dev_certs.py OUT_DIR [--hosts 127.0.0.1,localhost]

writes into OUT_DIR:

- ``ca.pem`` / ``ca.key``: a new CA (give ``ca.pem`` to clients, and to paycore as
  ``tls_client_ca_file`` for mutual TLS);
- ``server.pem`` / ``server.key``: paycore's certificate for the hosts (IP addresses and
  DNS names), signed by the CA (``tls_cert_file`` / ``tls_key_file``);
- ``client.pem`` / ``client.key``: a client certificate signed by the CA, for mutual TLS.

Keys are P-256 EC keys, written unencrypted with mode 0600. These certificates are for
local use only: the CA key sits next to the certificates it signed.
"""

from __future__ import annotations

import argparse
import datetime
import ipaddress
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

DEFAULT_HOSTS = ("127.0.0.1", "localhost")
VALIDITY = datetime.timedelta(days=365)
CLOCK_SKEW = datetime.timedelta(minutes=5)
"""Certificates are valid from a little before now, so a slightly slow clock accepts them."""


@dataclass(frozen=True, slots=True)
class Issued:
    """A certificate with its private key."""

    certificate: x509.Certificate
    key: ec.EllipticCurvePrivateKey


@dataclass(frozen=True, slots=True)
class DevCerts:
    """Paths of the files ``write_dev_certs`` made."""

    ca_cert: Path
    ca_key: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


def make_ca(common_name: str = "paycore development CA") -> Issued:
    """A self-signed CA that may sign leaf certificates (not other CAs)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - CLOCK_SKEW)
        .not_valid_after(now + VALIDITY)
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
        .sign(key, hashes.SHA256())
    )
    return Issued(certificate, key)


def issue_certificate(
    ca: Issued, common_name: str, *, hosts: Sequence[str] = (), client: bool = False
) -> Issued:
    """A leaf certificate signed by ``ca``: for a server on ``hosts``, or for a client.

    Each host that parses as an IP address becomes an IP SAN, any other a DNS SAN.
    """
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    usage = ExtendedKeyUsageOID.CLIENT_AUTH if client else ExtendedKeyUsageOID.SERVER_AUTH
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
        .issuer_name(ca.certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - CLOCK_SKEW)
        .not_valid_after(now + VALIDITY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()), critical=False
        )
    )
    if hosts:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([_subject_alternative_name(host) for host in hosts]),
            critical=False,
        )
    return Issued(builder.sign(ca.key, hashes.SHA256()), key)


def _subject_alternative_name(host: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        return x509.DNSName(host)


def write_issued(issued: Issued, cert_path: Path, key_path: Path) -> None:
    """Write the certificate (PEM) and its unencrypted key (PKCS#8 PEM, mode 0600)."""
    cert_path.write_bytes(issued.certificate.public_bytes(serialization.Encoding.PEM))
    key_bytes = issued.key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    # Created 0600 from the start: the key is never readable by others, not even briefly.
    descriptor = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as key_file:
        key_file.write(key_bytes)


def write_dev_certs(out_dir: Path, hosts: Sequence[str] = DEFAULT_HOSTS) -> DevCerts:
    """Make a new CA, a server certificate for ``hosts`` and a client certificate in ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = DevCerts(
        ca_cert=out_dir / "ca.pem",
        ca_key=out_dir / "ca.key",
        server_cert=out_dir / "server.pem",
        server_key=out_dir / "server.key",
        client_cert=out_dir / "client.pem",
        client_key=out_dir / "client.key",
    )
    ca = make_ca()
    write_issued(ca, paths.ca_cert, paths.ca_key)
    server = issue_certificate(ca, "paycore", hosts=hosts)
    write_issued(server, paths.server_cert, paths.server_key)
    client = issue_certificate(ca, "paycore development client", client=True)
    write_issued(client, paths.client_cert, paths.client_key)
    return paths


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: ``make_dev_certs.py OUT_DIR [--hosts a,b]``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("out_dir", type=Path, help="where the certificates and keys go")
    parser.add_argument(
        "--hosts",
        default=",".join(DEFAULT_HOSTS),
        help="comma-separated IP addresses and DNS names of the server (default: %(default)s)",
    )
    args = parser.parse_args(argv)
    hosts = [host.strip() for host in args.hosts.split(",") if host.strip()]
    if not hosts:
        parser.error("--hosts needs at least one host")
    paths = write_dev_certs(args.out_dir, hosts)
    print(f"wrote a CA, a server certificate for {', '.join(hosts)} and a client certificate:")
    print(f"  tls_cert_file = {str(paths.server_cert)!r}")
    print(f"  tls_key_file = {str(paths.server_key)!r}")
    print(f"  tls_client_ca_file = {str(paths.ca_cert)!r}  # for mutual TLS")
    print(f"  clients: CA {paths.ca_cert}, certificate {paths.client_cert}, key {paths.client_key}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
