"""What the tests and the benchmarks stand on, in one place (tests and bench import only this and the code
under test, never each other):

- `infra`: where Kafka and PostgreSQL come from; throwaway databases, topic prefixes, the leftover sweep;
- `system`: the whole system as separate processes (`start_system`, `RunningSystem`, `free_port`);
- `keys`: API keys for a system's database; `polling`: `eventually`, waiting for a condition, never for time;
- `kafka`: producing events, reading topics, whether the services consumed one; `apps`: one service's app
  run in the test's process (`running`, or on a socket: `serving`); `clock`: a clock the test sets;
- `events`: typed events tests produce (deactivated, regular, emergency, decided); `bodies`: JSON bodies
  posted to intake; `clients`: calls to the running system's API;
- `eligibility`, `registry`, `notifier`: a service's settings and tables as integration tests read them
  (`notifier` also runs the provider simulator); `fuzz`: schemathesis cases from an OpenAPI document;
- `browser`: headless Chromium for the dashboard tests; `deploy_tools`: kustomize, kubeconform, promtool;
- `wave`: the benchmarks' and chaos runs' deactivation wave;
- `chaos`: the chaos checker (acknowledged vs. held: lost, duplicated); `chaos_scenarios`: its harness
  and the scenarios that need only the system;
- `log_scan`: personal data and non-JSON lines in what the services wrote; `otlp`: a trace receiver;
- `personal_data`: where a person's data is still stored (the erasure tests);
- `locks`: two transactions interleaved by hand (the lock-order tests);
- `policy`: the eligibility policy the tests decide with (the shipped file's numbers);
- `rows`, `census`: rows written per table (pg_stat_user_tables) and, for `bench.run`, Kafka records per
  topic, per item: the cost model's figures; `chaos_results`: chaos-results.json, merged by scenario.

Its pure parts have tests of their own under tests/unit/testkit/.
"""
