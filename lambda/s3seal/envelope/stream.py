"""Streaming encryption and decryption of one object body.

Both directions take chunks of any size (one byte is fine) and return chunks; they keep at most one
AES block (V1) or one GCM tag (V2) beyond the chunk in hand, so memory is bounded by the chunk size,
never by the object size.

The envelope (wrapped data key, IV, materials description) exists before the first byte is
encrypted, so it can go into a ``CreateMultipartUpload`` before any part is sent; the parts are then
slices of one continuous CBC chain (or one GCM stream). ``iter_parts`` cuts a ciphertext stream into
such parts.
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Iterable, Iterator, Mapping
from typing import NamedTuple

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import (
    AEADDecryptionContext,
    AEADEncryptionContext,
    Cipher,
    CipherContext,
    algorithms,
    modes,
)

from .errors import (
    AlreadyFinalizedError,
    CiphertextError,
    LegacyFormatError,
    MetadataError,
    PlaintextLengthError,
    TamperedCiphertextError,
    TruncatedCiphertextError,
    WrongRootKeyError,
    v3_failure,
)
from .metadata import EnvelopeMetadata, Format, describe
from .suites import (
    AES_CBC,
    AES_ECB_WRAP,
    AES_GCM,
    AES_GCM_WRAP,
    AES_GCM_WRAP_V3,
    ALG_AES_256_GCM_HKDF_SHA512_COMMIT_KEY,
    BLOCK_SIZE,
    DATA_KEY_SIZE,
    GCM_IV_SIZE,
    GCM_MAX_PLAINTEXT,
    GCM_TAG_SIZE,
    check_root_key,
)

V3 = ALG_AES_256_GCM_HKDF_SHA512_COMMIT_KEY

# One message for every V1 body failure, padding included: V1 has no integrity protection, and a
# distinguishable padding error is a padding oracle (the attack that hit the old Go S3 client).
V1_DECRYPT_FAILED = (
    "the body did not decrypt: wrong data key, or the body is corrupt or truncated "
    "(V1 objects carry no integrity check)"
)


class _DataKeyMaterial(NamedTuple):
    """The random parts of one envelope; tests pass fixed ones to get known answers."""

    data_key: bytes
    iv: bytes
    """V1/V2 content IV; V3's is fixed and this is ignored."""
    wrap_iv: bytes
    message_id: bytes = b""
    """V3 only: the 28-byte message id (HKDF salt)."""

    @classmethod
    def fresh(cls, iv_size: int) -> _DataKeyMaterial:
        return cls(
            os.urandom(DATA_KEY_SIZE),
            os.urandom(iv_size),
            os.urandom(GCM_IV_SIZE),
            os.urandom(V3.message_id_size),
        )


class Encryptor:
    """Encrypts one object body under a fresh 256-bit data key.

    ``metadata`` is complete from construction on. Feed plaintext to ``update`` in chunks of any
    size and send what it returns, then what ``finalize`` returns (V1: the padded last block; V2:
    the rest and the 16-byte tag). If ``plaintext_length`` is given it is recorded in
    ``x-amz-unencrypted-content-length`` and ``finalize`` refuses a stream of any other length.
    """

    def __init__(
        self,
        root_key: bytes,
        format: Format | str = Format.V1,
        *,
        description: Mapping[str, str] | None = None,
        plaintext_length: int | None = None,
        _material: _DataKeyMaterial | None = None,
    ) -> None:
        check_root_key(root_key)
        fmt = Format(format)
        content = {Format.V1: AES_CBC, Format.V2: AES_GCM, Format.V3: V3.content}[fmt]
        self._gcm_limit = content.authenticated
        if plaintext_length is not None:
            if plaintext_length < 0:
                raise ValueError("plaintext_length must not be negative")
            if self._gcm_limit and plaintext_length > GCM_MAX_PLAINTEXT:
                raise PlaintextLengthError(
                    f"{fmt.name} (AES-GCM) cannot encrypt {plaintext_length} bytes in one "
                    f"object; the limit is {GCM_MAX_PLAINTEXT}"
                )
        material = _material or _DataKeyMaterial.fresh(content.iv_size)
        commitment = message_id = b""
        if fmt is Format.V1:
            wrapped = AES_ECB_WRAP.wrap(root_key, material.data_key, content)
            wrap, iv, content_key = AES_ECB_WRAP, material.iv, material.data_key
        elif fmt is Format.V2:
            wrap, iv, content_key = AES_GCM_WRAP, material.iv, material.data_key
            wrapped = wrap.wrap_with_iv(root_key, material.data_key, content, material.wrap_iv)
        else:
            # V3: the wrapped key is the HKDF input; the body is encrypted under the derived
            # key, and the commitment binds that key to the data key and message id.
            message_id = material.message_id
            if len(material.data_key) != V3.data_key_size or len(message_id) != (
                V3.message_id_size
            ):
                raise ValueError("V3 needs a 32-byte data key and a 28-byte message id")
            wrap, iv = AES_GCM_WRAP_V3, V3.content_iv
            wrapped = wrap.wrap_with_iv(root_key, material.data_key, content, material.wrap_iv)
            commitment, content_key = V3.derive(material.data_key, message_id)
        self.metadata = EnvelopeMetadata(
            format=fmt,
            content=content,
            wrap=wrap,
            wrapped_key=wrapped,
            iv=iv,
            matdesc=describe(description),
            unencrypted_length=plaintext_length,
            commitment=commitment,
            message_id=message_id,
        )
        aes = algorithms.AES(content_key)
        self._gcm: AEADEncryptionContext | None = None
        if fmt is Format.V1:
            self._cipher: CipherContext = Cipher(aes, modes.CBC(iv)).encryptor()
        else:
            self._gcm = Cipher(aes, modes.GCM(iv)).encryptor()
            if fmt is Format.V3:
                self._gcm.authenticate_additional_data(V3.id_bytes)
            self._cipher = self._gcm
        self._expected = plaintext_length
        self._seen = 0
        self._finished = False

    @property
    def ciphertext_length(self) -> int | None:
        """The body length this encryptor will produce, when the plaintext length was given."""
        if self._expected is None:
            return None
        return self.metadata.content.ciphertext_length(self._expected)

    @property
    def finalized(self) -> bool:
        return self._finished

    @property
    def plaintext_bytes(self) -> int:
        """Plaintext bytes consumed so far."""
        return self._seen

    def update(self, data: bytes | bytearray | memoryview) -> bytes:
        """Encrypt a chunk; returns the ciphertext ready so far (possibly empty)."""
        if self._finished:
            raise AlreadyFinalizedError("update() after finalize()")
        self._seen += len(data)
        if self._expected is not None and self._seen > self._expected:
            raise PlaintextLengthError(
                f"the plaintext is longer than the announced {self._expected} bytes"
            )
        if self._gcm_limit and self._seen > GCM_MAX_PLAINTEXT:
            raise PlaintextLengthError(
                f"AES-GCM cannot encrypt more than {GCM_MAX_PLAINTEXT} bytes in one object"
            )
        # CBC with padding off buffers a partial block itself; padding is added in finalize, which
        # saves a copy of every chunk through a padder.
        return self._cipher.update(data)

    def finalize(self) -> bytes:
        """Return the last ciphertext bytes. The encryptor cannot be used afterwards."""
        if self._finished:
            raise AlreadyFinalizedError("finalize() called twice")
        self._finished = True
        if self._expected is not None and self._seen != self._expected:
            raise PlaintextLengthError(
                f"the plaintext is {self._seen} bytes, not the announced {self._expected}"
            )
        if self._gcm is None:
            pad = BLOCK_SIZE - self._seen % BLOCK_SIZE
            return self._cipher.update(bytes([pad]) * pad) + self._cipher.finalize()
        tail = self._gcm.finalize()
        return tail + self._gcm.tag

    def complete_metadata(self) -> EnvelopeMetadata:
        """The metadata, with the plaintext length filled in once ``finalize`` has run.

        A single PUT or a local sidecar is written after the body, so it can carry the length even
        when it was not known up front; a multipart upload sends ``metadata`` before the first part.
        """
        if not self._finished:
            return self.metadata
        return self.metadata._replace(unencrypted_length=self._seen)


class Decryptor:
    """Decrypts one object body.

    ``update`` returns plaintext as it becomes available. For V2 and V3 that plaintext is
    **unauthenticated until ``finalize`` returns** without raising: it may be attacker-chosen
    garbage, and a caller must not release it (write it anywhere another process can see, upload
    it, load it) before then. A caller that must release plaintext authenticates first: one pass
    through ``update``/``finalize`` discarding the output, then a second pass over the same bytes
    (pinned version/ETag), or a private spool file renamed into place after ``finalize``.

    V3 checks run in the order of shared/docs/s3-cse-v3.md section 6, all here in the constructor
    except the tag: key unwrap (AAD "115"), data-key length, the key commitment against
    ``x-amz-d`` (constant time) and only then the derivation of the content key. Every V3 failure,
    tag included, is the one opaque ``TamperedCiphertextError`` (``errors.V3_DECRYPT_FAILED``).

    Legacy, unauthenticated shapes (``EnvelopeMetadata.legacy_shape``) raise
    ``LegacyFormatError`` unless ``allow_legacy`` is true.
    """

    def __init__(
        self,
        root_key: bytes,
        envelope: EnvelopeMetadata | Mapping[str, str],
        *,
        allow_legacy: bool = False,
    ) -> None:
        meta = (
            envelope if isinstance(envelope, EnvelopeMetadata) else EnvelopeMetadata.parse(envelope)
        )
        legacy = meta.legacy_shape
        if legacy is not None and not allow_legacy:
            raise LegacyFormatError(
                f"the envelope uses {legacy}: a legacy shape (unauthenticated content, or a key "
                "wrap current AWS clients refuse by default) that s3seal refuses by default; "
                "pass --allow-legacy (CLI) or enable the loader's allow-legacy setting to read it"
            )
        self.metadata = meta
        self._v3 = meta.format is Format.V3
        content_key = (
            _v3_content_key(root_key, meta)
            if self._v3
            else (meta.wrap.unwrap(root_key, meta.wrapped_key, meta.content))
        )
        self._authenticated = meta.content.authenticated
        aes = algorithms.AES(content_key)
        self._gcm: AEADDecryptionContext | None = None
        if self._authenticated:
            self._gcm = Cipher(aes, modes.GCM(meta.iv)).decryptor()
            if self._v3:
                self._gcm.authenticate_additional_data(V3.id_bytes)
            self._cipher: CipherContext = self._gcm
        else:
            self._cipher = Cipher(aes, modes.CBC(meta.iv)).decryptor()
        # V2 holds back the last 16 bytes seen (they may be the tag); V1 the last block (it holds
        # the padding).
        self._held = b""
        self._finished = False

    def update(self, data: bytes | bytearray | memoryview) -> bytes:
        """Decrypt a chunk; returns provisional plaintext (possibly empty).

        V2/V3: unauthenticated until ``finalize`` returns. The result is bytes-like and the
        caller's alone; for speed it may be a ``bytearray`` (see ``_gcm_update``).
        """
        if self._finished:
            raise AlreadyFinalizedError("update() after finalize()")
        if not data:
            return b""
        hold = GCM_TAG_SIZE if self._authenticated else BLOCK_SIZE
        view = memoryview(data)
        if len(self._held) + len(view) <= hold:
            self._held += bytes(view)
            return b""
        if len(view) >= hold:
            if not self._held:
                ready = self._cipher.update(view[:-hold])
            elif self._gcm is not None:
                ready = self._gcm_update(view)
            else:
                ready = self._cipher.update(self._held) + self._cipher.update(view[:-hold])
            self._held = bytes(view[-hold:])
            return ready
        joined = self._held + bytes(view)
        self._held = joined[-hold:]
        return self._cipher.update(joined[:-hold])

    def _gcm_update(self, view: memoryview) -> bytes:
        """The held bytes and all but the last 16 of ``view``, decrypted into one buffer.

        GCM output is exactly as long as its input, so both pieces go straight into one
        allocation: no second output buffer and no concatenation copy per chunk (the difference
        between ~0.5x and ~1x raw AES-GCM throughput in bench/). The buffer is a fresh bytearray
        the caller owns; ``update_into`` wants a block of slack, trimmed before returning.
        """
        assert self._gcm is not None
        size = len(self._held) + len(view) - GCM_TAG_SIZE
        out = bytearray(size + BLOCK_SIZE - 1)
        window = memoryview(out)
        head = self._gcm.update_into(self._held, window)
        self._gcm.update_into(view[:-GCM_TAG_SIZE], window[head:])
        window.release()
        del out[size:]
        return out  # type: ignore[return-value]  # a bytes-like the caller alone holds

    def finalize(self) -> bytes:
        """Verify (V2) or unpad (V1) and return the last plaintext bytes."""
        if self._finished:
            raise AlreadyFinalizedError("finalize() called twice")
        self._finished = True
        if self._gcm is not None:
            if self._v3:
                return self._finalize_v3()
            if len(self._held) < GCM_TAG_SIZE:
                raise TruncatedCiphertextError(
                    "the V2 body is shorter than its 16-byte authentication tag"
                )
            try:
                return self._gcm.finalize_with_tag(self._held)
            except InvalidTag:
                raise TamperedCiphertextError(
                    "the V2 authentication tag did not verify: the body or its metadata was "
                    "modified or truncated; no plaintext is valid"
                ) from None
        return self._finalize_cbc()

    def _finalize_v3(self) -> bytes:
        assert self._gcm is not None
        if len(self._held) < GCM_TAG_SIZE:
            raise v3_failure()
        try:
            return self._gcm.finalize_with_tag(self._held)
        except InvalidTag:
            raise v3_failure() from None

    def _finalize_cbc(self) -> bytes:
        try:
            if len(self._held) != BLOCK_SIZE:
                raise ValueError
            last = self._cipher.update(self._held) + self._cipher.finalize()
            pad = last[-1]
            if not 1 <= pad <= BLOCK_SIZE or last[-pad:] != bytes([pad]) * pad:
                raise ValueError
        except ValueError:
            raise CiphertextError(V1_DECRYPT_FAILED) from None
        return last[:-pad]


def _v3_content_key(root_key: bytes, meta: EnvelopeMetadata) -> bytes:
    """Unwrap, check the data key's length and the commitment, then derive the content key."""
    check_root_key(root_key)
    try:
        data_key = meta.wrap.unwrap(root_key, meta.wrapped_key, meta.content)
    except (WrongRootKeyError, MetadataError):
        raise v3_failure() from None
    if len(data_key) != V3.data_key_size or len(meta.message_id) != V3.message_id_size:
        raise v3_failure()
    # Constant-time comparison, and before the content key exists: a wrong commitment must not
    # lead to any decryption (spec key-commitment.md; Java MessageDigest.isEqual).
    if not hmac.compare_digest(V3.commitment(data_key, meta.message_id), meta.commitment):
        raise v3_failure()
    return V3.content_key(data_key, meta.message_id)


def encrypt_chunks(encryptor: Encryptor, chunks: Iterable[bytes]) -> Iterator[bytes]:
    """Yield the ciphertext of a plaintext stream, skipping empty pieces."""
    for chunk in chunks:
        out = encryptor.update(chunk)
        if out:
            yield out
    yield encryptor.finalize()


def decrypt_chunks(decryptor: Decryptor, chunks: Iterable[bytes]) -> Iterator[bytes]:
    """Yield the plaintext of a ciphertext stream (V2: unverified until the iterator ends)."""
    for chunk in chunks:
        out = decryptor.update(chunk)
        if out:
            yield out
    last = decryptor.finalize()
    if last:
        yield last


def iter_parts(chunks: Iterable[bytes], part_size: int) -> Iterator[bytes]:
    """Re-cut a byte stream into parts of exactly ``part_size`` bytes; the last one may be shorter.

    ``part_size`` must be a multiple of the AES block size, so that every part but the last ends on
    a block boundary of the CBC chain. Yields at least one (possibly empty) part. Memory: the
    pieces of one part plus the part being yielded, about ``2 x part_size``.
    """
    if part_size <= 0 or part_size % BLOCK_SIZE:
        raise ValueError(f"part_size must be a positive multiple of {BLOCK_SIZE}")
    # Pieces are joined once per part: growing and trimming one bytearray instead copies every
    # byte twice and lets the allocator's peak creep up to ~3.5 parts (bench/ measured both).
    pending: list[bytes | memoryview] = []
    pending_size = 0
    emitted = False
    for chunk in chunks:
        # A caller may reuse a mutable buffer for its next chunk; bytes are safe to hold on to.
        view = memoryview(chunk if isinstance(chunk, bytes) else bytes(chunk))
        while pending_size + len(view) >= part_size:
            take = part_size - pending_size
            pending.append(view[:take])
            view = view[take:]
            # Yielded without keeping a reference here, so the consumer's drop frees it.
            yield b"".join(pending)
            pending, pending_size, emitted = [], 0, True
        if view:
            pending.append(view)
            pending_size += len(view)
    if pending or not emitted:
        yield b"".join(pending)


def encrypt_bytes(
    root_key: bytes,
    plaintext: bytes,
    format: Format | str = Format.V1,
    *,
    description: Mapping[str, str] | None = None,
) -> tuple[bytes, dict[str, str]]:
    """Encrypt a whole plaintext in memory; returns (body, S3 user metadata)."""
    encryptor = Encryptor(
        root_key, format, description=description, plaintext_length=len(plaintext)
    )
    body = encryptor.update(plaintext) + encryptor.finalize()
    return body, encryptor.metadata.to_metadata()


def decrypt_bytes(
    root_key: bytes,
    body: bytes,
    metadata: EnvelopeMetadata | Mapping[str, str],
    *,
    allow_legacy: bool = False,
) -> bytes:
    """Decrypt a whole body in memory; returns plaintext only once it is verified (V2, V3)."""
    decryptor = Decryptor(root_key, metadata, allow_legacy=allow_legacy)
    return decryptor.update(body) + decryptor.finalize()
