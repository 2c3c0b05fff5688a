"""Unit tests of the envelope core: no network, no AWS."""
