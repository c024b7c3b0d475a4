"""What the tests and the benchmarks stand on, in one place (tests and bench import only this and the code
under test, never each other):

- `infra`: where Kafka and PostgreSQL come from; throwaway databases, topic prefixes, the leftover sweep;
- `system`: the whole system as separate processes (`start_system`, `RunningSystem`, `free_port`);
- `keys`: API keys for a system's database; `polling`: `eventually`, waiting for a condition, never for time;
- `kafka`: producing events and reading topics; `apps`: running one service's app in the test's process;
- `wave`: the benchmarks' and chaos runs' deactivation wave;
- `chaos`: the chaos checker (acknowledged vs. held: lost, duplicated); `chaos_scenarios`: its harness
  and the scenarios that need only the system;
- `log_scan`: personal data and non-JSON lines in what the services wrote; `otlp`: a trace receiver.

Its pure parts have tests of their own under tests/unit/testkit/.
"""
