"""Benchmarks for s3seal; run ``python -m bench.bench_envelope`` from the project root."""
