"""CDC readiness and the ground truth: bootstrap objects, Debezium events, ledger, verify, doctor, slots."""
