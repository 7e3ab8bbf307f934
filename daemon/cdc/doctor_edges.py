"""`doctor`'s findings for the opt-in edge cases: what the connector needs for them.

- ``sinais_vitais`` (partitioned): under which topics its changes arrive, from the publication's
  ``publish_via_partition_root`` (and whether that agrees with CDC_PUBLISH_VIA_PARTITION_ROOT),
  and whether next month's partition exists already;
- ``fila_triagem`` with shift handovers: Debezium skips truncates unless ``skipped.operations=none``;
- logical decoding messages (their weights > 0): where they arrive and what may filter them out.

Each finding is ``(status, item, detail, fix)``, turned into ``doctor.Check`` rows by the caller.
"""

from __future__ import annotations

from datetime import UTC, datetime

from daemon.config import Config
from daemon.pg import partitions
from daemon.pg.connection import Cursor

Finding = tuple[str, str, str, str]
MESSAGE_KINDS = ("mensagem_transacional", "mensagem_avulsa")


def edge_findings(cur: Cursor, config: Config) -> list[Finding]:
    out: list[Finding] = []
    extras, weights = config.schema.extras, config.stream.extra_weights
    if partitions.PARENT in extras:
        out.append(_via_root(cur, config))
        out.append(_next_partition(cur))
    if "fila_triagem" in extras and weights.get("triagem_passagem_turno", 0) > 0:
        out.append(
            (
                "WARN",
                "truncates (fila_triagem)",
                "each shift handover is a TRUNCATE fila_triagem: Debezium skips truncates by default "
                "(skipped.operations=t), and verify then reports them as a known loss",
                "set skipped.operations=none on the connector to receive one op: t event per TRUNCATE",
            )
        )
    if any(weights.get(kind, 0) > 0 for kind in MESSAGE_KINDS):
        prefix = config.stream.message_prefix
        out.append(
            (
                "WARN",
                "logical decoding messages",
                f"prefix {prefix!r}: Debezium delivers them on <topic.prefix>.message (op: m, key {{prefix}}, "
                "content as bytes: base64 in JSON); the non-transactional ones (mensagem_avulsa) with a null "
                "source.txId, outside any transaction",
                f"route or consume <topic.prefix>.message; message.prefix.include.list (if set) must let {prefix!r} "
                "through",
            )
        )
    return out


def _via_root(cur: Cursor, config: Config) -> Finding:
    wanted = config.cdc.publish_via_partition_root
    actual = wanted
    name = config.cdc.publication
    if name:
        cur.execute("SELECT pubviaroot FROM pg_publication WHERE pubname = %s", (name,))
        row = cur.fetchone()
        if row is not None:
            actual = bool(row[0])
            if actual != wanted:
                return (
                    "WARN",
                    "publish_via_partition_root",
                    f"{name} has {str(actual).lower()}, CDC_PUBLISH_VIA_PARTITION_ROOT says {str(wanted).lower()}",
                    "run `python -m daemon init` (it sets the publication's value)",
                )
    if actual:
        return (
            "PASS",
            "publish_via_partition_root",
            "true: sinais_vitais' changes arrive under the parent, on <topic.prefix>.public.sinais_vitais",
            "",
        )
    return (
        "WARN",
        "publish_via_partition_root",
        "false (PostgreSQL's default): sinais_vitais' changes arrive under each partition's name, one topic per "
        "month (<topic.prefix>.public.sinais_vitais_YYYY_MM), and a new topic every month",
        "let table.include.list match public.sinais_vitais_.* (or route the topics to one), or set "
        "CDC_PUBLISH_VIA_PARTITION_ROOT=true and run `python -m daemon init` for the parent's topic",
    )


def _next_partition(cur: Cursor) -> Finding:
    present = partitions.existing(cur)
    wanted = [partitions.partition_name(m) for m in partitions.ahead(datetime.now(UTC))]
    missing = [name for name in wanted if name not in present]
    if missing:
        return (
            "WARN",
            "sinais_vitais partitions",
            f"{len(present)} present; missing {', '.join(missing)}: an insert for that month fails",
            "run `python -m daemon init`, or the daemon (it creates next month's partition ahead of time)",
        )
    return ("PASS", "sinais_vitais partitions", f"{len(present)} present, up to {wanted[-1]}", "")
