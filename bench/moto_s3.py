"""moto's server for the benchmarks, minus one cost that S3 does not have.

moto's ``ListObjectVersions`` deep-copies every version in the bucket before it filters them by
prefix, and a ``FakeKey``'s deep copy reads its whole body and writes it into a new temporary
file (``__getstate__``/``__setstate__``). With a 1 GiB object in the bucket each listing copies
1 GiB, on the moto process's one CPU, while that process also serves the GET and the part
uploads being measured. S3 answers a listing from its index, whatever the objects' sizes.

Here the listing's copies share the stored body instead: a copy that only gets ``is_latest`` set
on it (all the listing does with them), so nothing moto stores is changed. Everything else is
moto as shipped. ``python -m bench.moto_s3 -H HOST -p PORT`` takes ``moto.server``'s arguments.
"""

from __future__ import annotations

import copy
import sys
import threading
from typing import Any

import moto.s3.models as s3_models
from moto.server import main

_listing = threading.local()


_LISTED: dict[type, type] = {}


def _shallow_key(key: Any) -> Any:
    """A twin of ``key`` sharing its body; a twin's disposal (moto closes a key's body when the
    key is garbage-collected) must leave the shared body open."""
    kind = type(key)
    if kind not in _LISTED:
        _LISTED[kind] = type(
            f"Listed{kind.__name__}", (kind,), {"dispose": _keep, "__del__": _keep}
        )
    twin: Any = object.__new__(_LISTED[kind])
    twin.__dict__.update(key.__dict__)
    return twin


def _keep(self: Any, *_: Any, **__: Any) -> None:
    """Nothing to dispose of: the body belongs to the stored key."""


class _CopyDuringListing:
    """``copy`` as moto's S3 models see it: deep copies made while listing versions are shallow
    per key (the list itself is still new); any other deep copy is the real one."""

    def __getattr__(self, name: str) -> Any:
        return getattr(copy, name)

    @staticmethod
    def deepcopy(value: Any, memo: Any = None) -> Any:
        if getattr(_listing, "active", False) and isinstance(value, list):
            return [_shallow_key(key) for key in value]
        return copy.deepcopy(value, memo)


def patch() -> None:
    """Make this process's moto list versions without copying bodies (idempotent)."""
    if isinstance(getattr(s3_models, "copy", None), _CopyDuringListing):
        return
    original = s3_models.S3Backend.list_object_versions

    def list_object_versions(self: Any, *args: Any, **kwargs: Any) -> Any:
        _listing.active = True
        try:
            return original(self, *args, **kwargs)
        finally:
            _listing.active = False

    setattr(s3_models, "copy", _CopyDuringListing())  # noqa: B010 (moto does not export it)
    s3_models.S3Backend.list_object_versions = list_object_versions  # type: ignore[method-assign]


if __name__ == "__main__":
    patch()
    main(sys.argv[1:])
