"""Re-wrap an envelope's data key under another root key, leaving the ciphertext as it is.

A root-key rotation only changes what wraps the data key: the body stays encrypted under the same
data key, so moving an object to the new root key is a metadata rewrite. ``rewrap`` unwraps the
data key with the old root key (for V3 also checking the key commitment, as a reader would), wraps
it under the new one (AES/GCM with a fresh wrap IV; V1's AES/ECB wrap is deterministic by format),
and unwraps the result again before returning it, so a caller never writes an envelope that does
not open. Everything else (content IV, V3 message id and commitment, declared length) is kept.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping

from .errors import MetadataError, WrongRootKeyError, v3_failure
from .metadata import EnvelopeMetadata, Format, describe
from .suites import ALG_AES_256_GCM_HKDF_SHA512_COMMIT_KEY as V3
from .suites import check_root_key


def data_key_of(envelope: EnvelopeMetadata, root_key: bytes) -> bytes:
    """The envelope's data key under ``root_key``; for V3 only once the commitment matches.

    Raises WrongRootKeyError / MetadataError (V1, V2) or the one opaque V3 error.
    """
    check_root_key(root_key)
    if envelope.format is not Format.V3:
        return envelope.wrap.unwrap(root_key, envelope.wrapped_key, envelope.content)
    try:
        data_key = envelope.wrap.unwrap(root_key, envelope.wrapped_key, envelope.content)
    except (WrongRootKeyError, MetadataError):
        raise v3_failure() from None
    if len(data_key) != V3.data_key_size or not hmac.compare_digest(
        V3.commitment(data_key, envelope.message_id), envelope.commitment
    ):
        raise v3_failure()
    return data_key


def rewrap(
    envelope: EnvelopeMetadata,
    old_root: bytes,
    new_root: bytes,
    *,
    description: Mapping[str, str] | None = None,
) -> EnvelopeMetadata:
    """``envelope`` with its data key wrapped under ``new_root`` instead of ``old_root``.

    ``description`` replaces the materials description (it names the new root-key version);
    None keeps the old one. Raises MetadataError for a wrap s3seal does not write (AESWrap).
    """
    if not envelope.wrap.writable:
        raise MetadataError(
            f"s3seal does not write the {envelope.wrap.wrap_alg} key wrap, so it cannot re-wrap "
            "this envelope; re-encrypt the object instead"
        )
    check_root_key(new_root)
    data_key = data_key_of(envelope, old_root)
    wrapped = envelope.wrap.wrap(new_root, data_key, envelope.content)
    matdesc = envelope.matdesc if description is None else describe(description)
    result = envelope._replace(wrapped_key=wrapped, matdesc=matdesc)
    # Check before anyone writes it: the new envelope yields the same data key (and, for V3, the
    # unchanged commitment still matches it).
    if not hmac.compare_digest(data_key_of(result, new_root), data_key):
        raise MetadataError("the re-wrapped data key did not unwrap to the same key")
    return result
