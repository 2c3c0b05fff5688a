"""The Amazon S3 client-side-encryption envelope format: pure, streaming, no I/O.

V3 (suite 0x0073, AES-256-GCM under an HKDF-SHA512-derived key, with key commitment) is what
current AWS S3 encryption clients write, and the only format they read by default. V2 (AES-256-GCM)
is authenticated but not key-committing. V1 ("EncryptionOnly", AES-256-CBC with an AES-ECB-wrapped
data key) is what Amazon Redshift ``COPY ... ENCRYPTED`` read until that ended on 2026-04-30; it has
**no integrity protection**: a modified V1 body decrypts to modified plaintext, or fails with one
generic error. Reading is strict by default: legacy unauthenticated shapes raise
``LegacyFormatError`` unless ``allow_legacy`` is passed. The byte-level rules are in docs/format.md.

This package imports nothing else of s3seal's; everything above it builds on it.
"""

from .errors import (
    AlreadyFinalizedError,
    CiphertextError,
    InvalidRootKeyError,
    LegacyFormatError,
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
from .metadata import (
    INSTRUCTION_SUFFIX,
    EnvelopeMetadata,
    Format,
    needs_instruction_file,
    parse_instruction_file,
)
from .rewrap import data_key_of, rewrap
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
    "INSTRUCTION_SUFFIX",
    "ROOT_KEY_SIZE",
    "AlreadyFinalizedError",
    "CiphertextError",
    "Decryptor",
    "Encryptor",
    "EnvelopeMetadata",
    "Format",
    "InvalidRootKeyError",
    "LegacyFormatError",
    "MetadataError",
    "NotEncryptedError",
    "PlaintextLengthError",
    "RootKeyError",
    "S3SealError",
    "TamperedCiphertextError",
    "TruncatedCiphertextError",
    "UnsupportedAlgorithmError",
    "WrongRootKeyError",
    "data_key_of",
    "decrypt_bytes",
    "decrypt_chunks",
    "encrypt_bytes",
    "encrypt_chunks",
    "iter_parts",
    "needs_instruction_file",
    "parse_instruction_file",
    "rewrap",
]
