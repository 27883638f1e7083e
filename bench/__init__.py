"""modelyard benchmarks: a registry of measurements (``bench.run``), one JSON schema for their
results (``bench.schema``) and the report that turns every result into ``docs/benchmarks.md``
(``bench.report``). Speed is measured here, never asserted in timed tests."""
