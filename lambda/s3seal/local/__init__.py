"""The embedded local mode (``s3seal local``): the real encrypting path on this machine, against
a moto server on 127.0.0.1, with the loader's COPY shown instead of run."""
