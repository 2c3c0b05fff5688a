"""The official AWS S3 Encryption Client for Python 4.x, driven by the tests, with our keyring.

Which code is AWS's and which is ours (the interop tests are worth exactly this much):

* **AWS's**, unmodified: PyPI ``amazon-s3-encryption-client-python`` (import ``s3_encryption``,
  pinned in requirements-dev.txt). Its client and DEFAULT configuration
  (``REQUIRE_ENCRYPT_REQUIRE_DECRYPT``, legacy unauthenticated modes off, delayed authentication
  off), the V3 metadata it writes and parses, the 28-byte message id, the HKDF-SHA512 key
  derivation, the key commitment and its check, AES-GCM content encryption and decryption,
  multipart encryption, V3 instruction-file reading, and the commitment-policy and legacy checks.
* **Ours**, in this module:

  - :class:`RawAesKeyring`. The package ships only a KMS keyring, so the raw-AES one is written
    here from the official Java client's ``AesKeyring`` (4.x; see ../shared/docs/s3-cse-v3.md §4):
    the data key is wrapped as ``IV12 || AES-256-GCM(root, IV12, data_key, aad) || tag16``, with
    ``aad = b"115"`` for the V3 suite and ``b"AES/GCM/NoPadding"`` for V2. The legacy AES/ECB
    unwrap of V1 is there only when asked for, as Java's ``enableLegacyWrappingAlgorithms``.
    So the key wrap is checked against AWS's Java *source*, not against running AWS code.
  - :func:`mark_aes_gcm_wrap`. The Python V3 writer hard-codes ``x-amz-w: "12"`` (KMS); a boto3
    hook of ours rewrites it to ``"02"`` (AES/GCM) on the wire, after AWS's code has encrypted.
  - :func:`move_to_instruction_file`. Python 4.0 reads V3 instruction files but cannot write them,
    so the instruction-file layout is made by moving ``x-amz-3``/``x-amz-w`` out of the object's
    metadata into ``KEY.instruction``, as the spec lays it out.

This module uses ``cryptography`` directly and nothing of s3seal's, so that it is an independent
check of s3seal's envelope rather than a copy of it.
"""

from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
from attrs import define
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from s3_encryption import S3EncryptionClient, S3EncryptionClientConfig
from s3_encryption.exceptions import S3EncryptionClientError
from s3_encryption.materials import AlgorithmSuite, CommitmentPolicy, EncryptedDataKey
from s3_encryption.materials.keyring import S3Keyring

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

REGION = "us-east-1"
VECTORS = Path(__file__).resolve().parent.parent / "vectors" / "aws-python-s3ec-v3"
INSTRUCTION_SUFFIX = ".instruction"
"""The default suffix of the official clients' instruction files."""

V3_WRAP_AAD = b"115"
"""Java AesKeyring 4.x, suite ALG_AES_256_GCM_HKDF_SHA512_COMMIT_KEY: its id as a decimal string."""
V2_WRAP_AAD = b"AES/GCM/NoPadding"
"""The same keyring for ALG_AES_256_GCM_IV12_TAG16_NO_KDF (V2): the cipher name."""
AES_GCM_WRAP = "AES/GCM"
"""``key_provider_info`` of this wrap; the V3 metadata writes it as ``x-amz-w: "02"``."""
LEGACY_ECB_WRAP = (None, "AES")
"""V1 objects carry no ``x-amz-wrap-alg`` (Python passes None; Java calls it "AES")."""
WRAP_IV_SIZE = 12
DATA_KEY_SIZE = 32
WRAP_HEADER = "x-amz-meta-x-amz-w"
V3_OBJECT_ONLY = ("x-amz-c", "x-amz-d", "x-amz-i")
"""What stays in the object's metadata in the V3 instruction-file layout."""


@define
class RawAesKeyring(S3Keyring):  # type: ignore[misc]  # s3_encryption ships no type hints
    """A raw 256-bit AES keyring for the official Python client (OURS, not AWS's: see above).

    It subclasses AWS's ``S3Keyring``, whose checks (materials types, exactly one encrypted data
    key, no plaintext key yet) run first, as they do for AWS's own KMS keyring.
    """

    root_key: bytes
    enable_legacy_wrapping_algorithms: bool = False

    def on_encrypt(self, enc_materials: Any) -> Any:
        materials = super().on_encrypt(enc_materials)
        data_key = os.urandom(DATA_KEY_SIZE)
        wrap_iv = os.urandom(WRAP_IV_SIZE)
        suite = materials.encryption_algorithm
        aad = (
            V3_WRAP_AAD
            if suite is AlgorithmSuite.ALG_AES_256_GCM_HKDF_SHA512_COMMIT_KEY
            else V2_WRAP_AAD
        )
        sealed = AESGCM(self.root_key).encrypt(wrap_iv, data_key, aad)
        materials.encrypted_data_key = EncryptedDataKey(
            key_provider_info=AES_GCM_WRAP,
            key_provider_id=b"S3Keyring",
            encrypted_data_key=wrap_iv + sealed,
        )
        materials.plaintext_data_key = data_key
        return materials

    def on_decrypt(self, dec_materials: Any, encrypted_data_keys: Any = None) -> Any:
        materials = super().on_decrypt(dec_materials, encrypted_data_keys)
        edks = materials.encrypted_data_keys if encrypted_data_keys is None else encrypted_data_keys
        edk = edks[0]  # S3Keyring has checked that there is exactly one
        blob: bytes = edk.encrypted_data_key
        if edk.key_provider_info == AES_GCM_WRAP:
            # The Python pipeline asks the keyring before it records the algorithm suite on the
            # materials, so the suite is told apart by the metadata's shape: V1/V2 always carry
            # x-amz-iv (materials.iv), V3 never does (its IV is fixed).
            aad = V2_WRAP_AAD if materials.iv is not None else V3_WRAP_AAD
            materials.plaintext_data_key = AESGCM(self.root_key).decrypt(
                blob[:WRAP_IV_SIZE], blob[WRAP_IV_SIZE:], aad
            )
        elif edk.key_provider_info in LEGACY_ECB_WRAP and self.enable_legacy_wrapping_algorithms:
            decryptor = Cipher(algorithms.AES(self.root_key), modes.ECB()).decryptor()
            unpadder = padding.PKCS7(128).unpadder()
            padded = decryptor.update(blob) + decryptor.finalize()
            materials.plaintext_data_key = unpadder.update(padded) + unpadder.finalize()
        else:
            raise S3EncryptionClientError(
                f"RawAesKeyring (test helper) does not unwrap {edk.key_provider_info!r} "
                "(legacy wrapping algorithms are off)"
            )
        return materials


# --- the official client ----------------------------------------------------------------------


def s3_client(endpoint: str) -> S3Client:
    """A plain boto3 S3 client on moto (built inside a test, under the fake credentials)."""
    return boto3.client("s3", endpoint_url=endpoint, region_name=REGION)


def mark_aes_gcm_wrap(params: dict[str, Any], **_: Any) -> None:
    """OURS: rewrite the V3 writer's hard-coded ``x-amz-w: "12"`` (KMS) to ``"02"`` (AES/GCM).

    Registered on ``before-call`` after AWS's own handler, so it sees the encrypted request.
    """
    headers = params.get("headers", {})
    if headers.get(WRAP_HEADER) == "12":
        headers[WRAP_HEADER] = "02"


def official_client(
    endpoint: str,
    root_key: bytes,
    *,
    legacy_wrapping: bool = False,
    commitment_policy: CommitmentPolicy | None = None,
    legacy_modes: bool = False,
) -> S3EncryptionClient:
    """AWS's client on moto with our raw-AES keyring, in the client's DEFAULT configuration.

    ``legacy_wrapping`` is the keyring's (Java: ``enableLegacyWrappingAlgorithms``): with it the
    V1 data key unwraps, so that what refuses a V1 object is the client's own policy.
    ``commitment_policy`` and ``legacy_modes`` change the client's configuration; they exist only
    for the positive controls that show *why* a default client refuses an object.
    """
    keyring = RawAesKeyring(root_key, enable_legacy_wrapping_algorithms=legacy_wrapping)
    if commitment_policy is None and not legacy_modes:
        config = S3EncryptionClientConfig(keyring=keyring)
    else:
        config = S3EncryptionClientConfig(
            keyring=keyring,
            commitment_policy=commitment_policy or CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT,
            enable_legacy_unauthenticated_modes=legacy_modes,
        )
    wrapped = s3_client(endpoint)
    client = S3EncryptionClient(wrapped_s3_client=wrapped, config=config)
    for operation in ("PutObject", "CreateMultipartUpload"):
        wrapped.meta.events.register(f"before-call.s3.{operation}", mark_aes_gcm_wrap)
    return client


@dataclass(frozen=True)
class Outcome:
    """What the official client did with one object."""

    ok: bool
    plaintext: bytes = b""
    error: str = ""


def official_get(client: S3EncryptionClient, bucket: str, key: str) -> Outcome:
    """Decrypt with the official client; an S3EncryptionClientError is an outcome, not a crash."""
    try:
        response = client.get_object(Bucket=bucket, Key=key)
        plaintext: bytes = response["Body"].read()
    except S3EncryptionClientError as exc:
        return Outcome(ok=False, error=f"{type(exc).__name__}: {exc}")
    return Outcome(ok=True, plaintext=plaintext)


def move_to_instruction_file(s3: S3Client, bucket: str, key: str) -> dict[str, str]:
    """OURS: turn a V3 metadata-layout object into the instruction-file layout, in place.

    ``x-amz-3``/``x-amz-w`` (and ``x-amz-m`` if present) move into ``KEY.instruction`` as JSON;
    the object keeps ``x-amz-c``/``x-amz-d``/``x-amz-i``. Returns the instruction file's content.
    """
    metadata = s3.head_object(Bucket=bucket, Key=key)["Metadata"]
    kept = {name: metadata[name] for name in V3_OBJECT_ONLY}
    moved = {name: value for name, value in metadata.items() if name not in V3_OBJECT_ONLY}
    s3.copy_object(
        Bucket=bucket,
        Key=key,
        CopySource={"Bucket": bucket, "Key": key},
        Metadata=kept,
        MetadataDirective="REPLACE",
    )
    s3.put_object(Bucket=bucket, Key=key + INSTRUCTION_SUFFIX, Body=json.dumps(moved).encode())
    return moved


# --- the shared vectors -----------------------------------------------------------------------


@dataclass(frozen=True)
class V3Vector:
    """One object the official client wrote (../shared/vectors/aws-python-s3ec-v3)."""

    name: str
    root_key: bytes
    body: bytes
    metadata: dict[str, str]
    plaintext: bytes
    instruction: bytes | None
    """The body of ``KEY.instruction``, for the instruction-file layout."""


def v3_vectors() -> list[V3Vector]:
    out = []
    for meta_file in sorted(VECTORS.glob("*.json")):
        doc = json.loads(meta_file.read_text())
        instruction = meta_file.with_suffix(INSTRUCTION_SUFFIX)
        out.append(
            V3Vector(
                name=meta_file.stem,
                root_key=base64.b64decode(doc["root_key_b64"]),
                body=meta_file.with_suffix(".body").read_bytes(),
                metadata=doc["metadata"],
                plaintext=meta_file.with_suffix(".plain").read_bytes(),
                instruction=instruction.read_bytes() if instruction.exists() else None,
            )
        )
    return out
