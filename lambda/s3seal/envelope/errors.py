"""The one exception hierarchy of s3seal.

It is rooted here, inside ``envelope``, because ``envelope`` imports nothing else of ours;
``s3seal.errors`` re-exports these and adds the errors of the layers that do I/O.

::

    S3SealError
    ├── RootKeyError
    │   ├── InvalidRootKeyError      the root key is not exactly 32 bytes (or not base64 of them)
    │   └── WrongRootKeyError        the data key does not unwrap under this root key
    ├── MetadataError                envelope metadata missing, malformed or inconsistent
    │   ├── NotEncryptedError        no x-amz-key / x-amz-key-v2 at all
    │   └── UnsupportedAlgorithmError  a wrap or content algorithm s3seal does not read
    │       └── LegacyFormatError        an unauthenticated legacy shape, refused unless allowed
    ├── CiphertextError              the body does not decrypt (V1: every failure, one message)
    │   ├── TruncatedCiphertextError   V2 body shorter than its authentication tag
    │   └── TamperedCiphertextError    V2 tag mismatch; V3: every failure, one message
    ├── PlaintextLengthError         the plaintext is not the length that was announced
    └── AlreadyFinalizedError        a stream was used after finalize()
"""

from __future__ import annotations


class S3SealError(Exception):
    """Base of every error s3seal raises on purpose."""


class RootKeyError(S3SealError):
    """Something is wrong with the root key."""


class InvalidRootKeyError(RootKeyError):
    """The root key is not a 256-bit AES key. Its value is never part of the message."""


class WrongRootKeyError(RootKeyError):
    """The data key did not unwrap: the root key is wrong or the key metadata is corrupt."""


class MetadataError(S3SealError):
    """The envelope metadata is missing, malformed or inconsistent."""


class NotEncryptedError(MetadataError):
    """The object carries no client-side-encryption envelope at all."""


class UnsupportedAlgorithmError(MetadataError):
    """The envelope names an algorithm s3seal does not implement."""


class LegacyFormatError(UnsupportedAlgorithmError):
    """A legacy, unauthenticated envelope shape that is refused unless the caller allows legacy.

    The shapes: AES-CBC content in a V2 envelope, an AESWrap (RFC 3394) key wrap, a V1 envelope
    with a 16-byte data key. s3seal never writes them; current AWS clients refuse them by default.
    """


class CiphertextError(S3SealError):
    """The body did not decrypt.

    For V1 (AES-CBC, no integrity protection) this is the *only* error a body can produce, with one
    fixed message: a distinguishable padding error would be a padding oracle.
    """


class TruncatedCiphertextError(CiphertextError):
    """The V2 body is shorter than its 16-byte authentication tag."""


class TamperedCiphertextError(CiphertextError):
    """The body or its envelope did not authenticate: modified, cut, or the wrong root key.

    V2: the authentication tag did not verify. V3: *every* failure (a malformed or modified
    ``x-amz-c``/``-w``/``-3``/``-d``/``-i``, a refused instruction file, the key wrap, the key
    commitment, the tag, a truncated body) raises this class with one fixed message, so nothing
    tells which check failed.
    """


class PlaintextLengthError(S3SealError):
    """The plaintext streamed in is not the length announced up front (or exceeds a limit)."""


class AlreadyFinalizedError(S3SealError):
    """An encryptor or decryptor was used after ``finalize()``."""


V3_DECRYPT_FAILED = (
    "the V3 object did not decrypt: wrong root key, or the object, its metadata or its "
    "instruction file is not what was written (modified, truncated, or a key wrap s3seal does "
    "not read, such as KMS); no plaintext is valid"
)
"""The one message of every V3 failure: which check failed (metadata, key wrap, commitment,
tag) is not revealed, so a tampered object is no oracle for the next attempt."""


def v3_failure() -> TamperedCiphertextError:
    """The opaque V3 error; raise it ``from None`` so no cause is chained."""
    return TamperedCiphertextError(V3_DECRYPT_FAILED)
