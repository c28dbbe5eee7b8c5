"""Generate the files infra/compose.yaml mounts as secrets: a test CA and a broker certificate
for Kafka's SASL_SSL listeners, and random passwords. For trying the stack, not production
(use your own CA and secret store there); never commit the output.

    python infra/make_test_secrets.py                 # writes infra/secrets/
    python infra/make_test_secrets.py --out DIR --force

The directory is created 0700; the files in it are 0644 because compose mounts each file as
it is (its owner and mode) into containers that run as other users (Kafka as uid 1000,
trendmine as 10001, Postgres as 999): the directory keeps other local users out.
"""

from __future__ import annotations

import argparse
import datetime as dt
import ipaddress
import os
import secrets
import subprocess
import sys
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

DEFAULT_OUT = Path(__file__).parent / "secrets"
KAFKA_USER = "trendmine"  # compose's TRENDMINE_KAFKA_SASL_USERNAME
BROKER_NAMES = ("kafka-1", "kafka-2", "kafka-3", "localhost")
VALID_DAYS = 365
FILES = ("kafka_ca.pem", "kafka_broker.pem", "kafka_broker.properties", "kafka_password",
         "postgres_password", "trendmine_db_password", "database_url", "prefect_db_password",
         "prefect_db_url", "intake_secret")


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "trendmine test"),
                      x509.NameAttribute(NameOID.COMMON_NAME, common)])


def make_ca() -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(_name("trendmine test CA"))
            .issuer_name(_name("trendmine test CA")).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=VALID_DAYS))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False,
                                         key_encipherment=False, data_encipherment=False,
                                         key_agreement=False, key_cert_sign=True,
                                         crl_sign=True, encipher_only=False,
                                         decipher_only=False), critical=True)
            .sign(key, hashes.SHA256()))
    return key, cert


def make_broker_cert(ca_key: ec.EllipticCurvePrivateKey, ca: x509.Certificate
                     ) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    """One certificate for the three brokers: every name clients and brokers dial."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    sans = [x509.DNSName(n) for n in BROKER_NAMES] + [
        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    cert = (x509.CertificateBuilder().subject_name(_name("kafka")).issuer_name(ca.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=VALID_DAYS))
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH,
                                                  ExtendedKeyUsageOID.CLIENT_AUTH]),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))
    return key, cert


def java_readable_key(key: ec.EllipticCurvePrivateKey, password: str) -> bytes:
    """The key as encrypted PKCS#8 PEM that Kafka's JVM can open. Kafka reads a PEM keystore's
    key only encrypted, and the JDK's SecretKeyFactory knows no PBES2 (what `cryptography`
    writes), so openssl re-encrypts it with PBES1 (SHA1 + 3DES); the password reaches the
    brokers through kafka_broker.properties (FileConfigProvider), never the environment."""
    plain = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption())
    return subprocess.run(
        ["openssl", "pkcs8", "-topk8", "-v1", "PBE-SHA1-3DES", "-passout", "env:KEY_PASSWORD"],
        input=plain, capture_output=True, check=True,
        env={**os.environ, "KEY_PASSWORD": password}).stdout


def secret_files() -> dict[str, bytes]:
    """name -> content of every file compose mounts."""
    ca_key, ca = make_ca()
    key, cert = make_broker_cert(ca_key, ca)
    key_password, kafka_password = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
    pg_password, prefect_password = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
    app_password = secrets.token_urlsafe(24)  # trendmine's role: not the superuser's
    pem = serialization.Encoding.PEM
    broker_pem = (java_readable_key(key, key_password) + cert.public_bytes(pem)
                  + ca.public_bytes(pem))
    return {
        "kafka_ca.pem": ca.public_bytes(pem),
        "kafka_broker.pem": broker_pem,
        "kafka_broker.properties": (f"key.password={key_password}\n"
                                    f"{KAFKA_USER}.password={kafka_password}\n").encode(),
        "kafka_password": kafka_password.encode(),
        "postgres_password": pg_password.encode(),
        "trendmine_db_password": app_password.encode(),
        "database_url": f"postgresql://trendmine:{app_password}@postgres:5432/trendmine".encode(),
        "prefect_db_password": prefect_password.encode(),
        "prefect_db_url": (f"postgresql+asyncpg://prefect:{prefect_password}@prefect-db:5432/"
                           "prefect").encode(),
        "intake_secret": secrets.token_urlsafe(32).encode(),
    }


def write(out: Path, force: bool = False) -> list[Path]:
    existing = [out / f for f in FILES if (out / f).exists()]
    if existing and not force:
        raise SystemExit(f"{out} already holds secrets; pass --force to replace them all")
    out.mkdir(mode=0o700, parents=True, exist_ok=True)
    out.chmod(0o700)
    written = []
    for name, content in secret_files().items():
        path = out / name
        path.write_bytes(content)
        path.chmod(0o644)  # see the module doc: the 0700 directory guards them
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--force", action="store_true", help="replace existing secrets")
    args = parser.parse_args(argv)
    paths = write(args.out, args.force)
    print(f"wrote {len(paths)} files to {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
