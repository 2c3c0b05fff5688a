"""The Amazon S3 client-side-encryption envelope format: pure, streaming, no I/O.

V1 ("EncryptionOnly", AES-256-CBC with an AES-ECB-wrapped data key) is what Amazon Redshift
``COPY ... ENCRYPTED`` reads. It has **no integrity protection**: a modified V1 body decrypts to
modified plaintext, or fails with one generic error; only V2 (AES-256-GCM) detects tampering.
The byte-level rules are in docs/format.md.

This package imports nothing else of s3seal's; everything above it builds on it.
"""

from .errors import (
    AlreadyFinalizedError,
    CiphertextError,
    InvalidRootKeyError,
    MetadataError,
    NotEncryptedError,
    PlaintextLengthError,
    RootKeyError,
    S3SealError,
    TamperedCiphertextError,
    TruncatedCiphertextError,
    UnsupportedAlgorithmError,
    WrongRootKeyError,
)
from .metadata import EnvelopeMetadata, Format
from .stream import (
    Decryptor,
    Encryptor,
    decrypt_bytes,
    decrypt_chunks,
    encrypt_bytes,
    encrypt_chunks,
    iter_parts,
)
from .suites import BLOCK_SIZE, ROOT_KEY_SIZE

__all__ = [
    "BLOCK_SIZE",
    "ROOT_KEY_SIZE",
    "AlreadyFinalizedError",
    "CiphertextError",
    "Decryptor",
    "Encryptor",
    "EnvelopeMetadata",
    "Format",
    "InvalidRootKeyError",
    "MetadataError",
    "NotEncryptedError",
    "PlaintextLengthError",
    "RootKeyError",
    "S3SealError",
    "TamperedCiphertextError",
    "TruncatedCiphertextError",
    "UnsupportedAlgorithmError",
    "WrongRootKeyError",
    "decrypt_bytes",
    "decrypt_chunks",
    "encrypt_bytes",
    "encrypt_chunks",
    "iter_parts",
]
