"""docker/debezium-connector.tls.json's TLS settings with the real connector, on the TLS-only server.

The simulator (verify-full) and Debezium (database.sslmode/sslrootcert from the example) share a
server whose pg_hba.conf accepts TLS only: the connector verifies the server's certificate against
the test CA, snapshots and streams over an encrypted replication connection; with a stranger's CA
it never starts, naming the certificate failure.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support import REPO
from tests.support.db import query, wait_until
from tests.support.proc import daemon_process, run
from tests.support.tls import TlsServer, tls_server

FAST = {
    "STREAM_INTERVAL_SECONDS": "0.05",
    "MAX_JITTER_MS": "0",
    "SUMMARY_EVERY_TICKS": "10",
    "SEED_SCALE": "0.02",
    "RANDOM_SEED": "3",
    "STREAM_OP_WEIGHTS": "insert=1",
    "CDC_PUBLICATION": "hospital_pub",
}
SLOT = "hospital_tls_slot"


def tls_example() -> dict[str, str]:
    return json.loads((REPO / "docker" / "debezium-connector.tls.json").read_text(encoding="utf-8"))["config"]


def capture(tls: TlsServer, root_cert: Path, offsets: Path, slot: str):
    from tests.support.debezium_engine import DebeziumCapture

    example = tls_example()
    return DebeziumCapture(
        host="127.0.0.1",
        port=tls.cluster.port,
        user="postgres",
        password="",
        dbname="hospital",
        slot_name=slot,
        publication=example["publication.name"],
        offsets_file=offsets,
        topic_prefix=example["topic.prefix"],
        tables=example["table.include.list"].split(","),
        # The example's TLS settings; the CA's path is where this machine keeps it, not the Connect pod's.
        extra_properties={"database.sslmode": example["database.sslmode"], "database.sslrootcert": str(root_cert)},
    )


def test_connector_verifies_the_server_and_streams_over_tls(tmp_path: Path) -> None:
    from tests.support.debezium_engine import DebeziumError, drop_slot, parse

    assert tls_example()["database.sslmode"] == "verify-full"
    with tls_server() as tls:
        admin = tls.admin()
        with admin.cursor() as cur:
            cur.execute("CREATE DATABASE hospital")
        admin.close()
        env = tls.env("hospital", **FAST)
        code, output = run(env, "init")
        assert code == 0, output
        db = tls.admin("hospital")
        engine = None
        try:
            with pytest.raises(DebeziumError) as refused:
                capture(tls, tls.other_ca.cert, tmp_path / "refused.dat", SLOT + "_refused").start(timeout=60)
            assert "unable to find valid certification path" in str(refused.value), refused.value
            engine = capture(tls, tls.ca.cert, tmp_path / "offsets.dat", SLOT).start(timeout=90)
            with daemon_process(env, ready="Stream ciclo 10:", timeout=90) as daemon:
                records = engine.wait_for(
                    lambda rs: any(r.destination.endswith(".consultas") and parse(r).op == "insert" for r in rs),
                    timeout=60,
                )
                walsender = wait_until(
                    lambda: query(
                        db,
                        "SELECT s.ssl, s.version FROM pg_stat_replication r JOIN pg_stat_ssl s USING (pid) "
                        "WHERE r.application_name <> 'walreceiver'",
                    ),
                    what="Debezium's replication connection",
                )
                code, _ = daemon.terminate()
            assert code == 0, daemon.output[-2000:]
            assert records and all(ssl for ssl, _ in walsender) and walsender[0][1].startswith("TLSv1."), walsender
        finally:
            if engine is not None:
                engine.stop(raise_errors=False)
            drop_slot(db, SLOT)
            db.close()
