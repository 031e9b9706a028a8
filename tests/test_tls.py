"""https endpoints: the shared client verifies certificates against the CA bundle (which
honours SSL_CERT_FILE, as httpx does), and a run whose endpoints are all http gets a client
that trusts no certificate at all (`rpc.make_client(tls=False)`: no CA bundle loaded at
start), so that an https request made with it fails instead of going through unchecked.

The TLS server is the tests' JSON-RPC proxy on 127.0.0.1, with a certificate made here for
127.0.0.1."""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import ssl
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from support.cli import check_json
from support.evm import AnvilNode
from support.proxy import RpcProxy
from support.world import build_on

from xstock_audit.rpc import make_client
from xstock_audit.sandbox.solana import SolanaNode

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, ssl.SSLContext]:
    """A self-signed certificate for 127.0.0.1 (its PEM file) and a server context using it."""
    folder = tmp_path_factory.mktemp("tls")
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_pem = folder / "cert.pem"
    key_pem = folder / "key.pem"
    cert_pem.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_pem.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(cert_pem, key_pem)
    return cert_pem, server


@pytest.fixture(scope="module")
def https_node(certificate: tuple[Path, ssl.SSLContext]) -> Iterator[tuple[AnvilNode, RpcProxy]]:
    with AnvilNode() as evm, RpcProxy(evm.url, tls=certificate[1]) as proxy:
        yield evm, proxy


async def _chain_id(url: str, tls: bool) -> str:
    async with make_client(tls) as client:
        reply = await client.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "eth_chainId"})
        return str(reply.json()["result"])


def test_the_client_verifies_https_against_the_ca_bundle(
    certificate: tuple[Path, ssl.SSLContext],
    https_node: tuple[AnvilNode, RpcProxy],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    evm, proxy = https_node
    assert proxy.url.startswith("https://")
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)  # httpx's second choice, when set
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate[0]))
    assert int(asyncio.run(_chain_id(proxy.url, tls=True)), 16) == evm.chain_id
    # the client of an http-only run trusts nothing, not even the certificate named here
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        asyncio.run(_chain_id(proxy.url, tls=False))
    # and without the certificate in the bundle, the full client refuses it too
    monkeypatch.delenv("SSL_CERT_FILE")  # certifi's bundle, which does not have it
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        asyncio.run(_chain_id(proxy.url, tls=True))


def test_check_reads_an_https_endpoint_next_to_an_http_one(
    tmp_path: Path,
    certificate: tuple[Path, ssl.SSLContext],
    https_node: tuple[AnvilNode, RpcProxy],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A registry with one https chain (its scheme written in capitals, which URLs allow)
    and one http chain: the run's client loads the CA bundle and both chains are read."""
    evm, proxy = https_node
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    with SolanaNode() as sol:
        world = build_on(tmp_path, evm, sol, evm_url=proxy.url.replace("https://", "HTTPS://"))
        monkeypatch.setenv("SSL_CERT_FILE", str(certificate[0]))
        code, doc, err = check_json(world.registry)
        assert code == 0, err
        assert [t["status"] for t in doc["tokens"]] == ["BACKED", "BACKED"]
        assert doc["chains"]["evm"].get("error") is None
        monkeypatch.delenv("SSL_CERT_FILE")
        code, doc, err = check_json(world.registry)
        assert code == 3
        assert "CERTIFICATE_VERIFY_FAILED" in doc["chains"]["evm"]["error"]
