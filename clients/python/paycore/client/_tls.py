"""tls_credentials: channel credentials for paycore over TLS or mutual TLS, from PEM files."""

from __future__ import annotations

import os

import grpc

PemPath = str | os.PathLike[str]


def tls_credentials(
    ca_file: PemPath | None = None,
    cert_file: PemPath | None = None,
    key_file: PemPath | None = None,
) -> grpc.ChannelCredentials:
    """Credentials for ``PaycoreClient(..., credentials=...)`` or ``AsyncPaycoreClient``.

    Args:
        ca_file: PEM certificate(s) of the CA that signed paycore's certificate;
            None trusts the system's default roots.
        cert_file: PEM client certificate (chain), for servers that require
            mutual TLS; give ``key_file`` with it.
        key_file: PEM private key of ``cert_file`` (unencrypted).

    Raises:
        ValueError: only one of ``cert_file`` and ``key_file`` was given.
        OSError: a file cannot be read.
    """
    if (cert_file is None) != (key_file is None):
        raise ValueError("cert_file and key_file go together (mutual TLS needs both)")
    return grpc.ssl_channel_credentials(
        root_certificates=_read(ca_file),
        private_key=_read(key_file),
        certificate_chain=_read(cert_file),
    )


def _read(path: PemPath | None) -> bytes | None:
    if path is None:
        return None
    with open(path, "rb") as pem:
        return pem.read()
