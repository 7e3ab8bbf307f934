"""DELETE events: convênio cancellations and retention of old cancelled consultas.

Only rows nothing references are deleted (pacientes, medicos and convenios never are), so
``ON DELETE RESTRICT`` never fires.
"""

from __future__ import annotations

from daemon.cdc.ledger import Change
from daemon.pg.connection import Cursor
from daemon.stream.kinds.base import EventContext, EventKind, pick_id, returning


def convenio_cancelamento(ctx: EventContext, cur: Cursor) -> Change | None:
    pk = pick_id(cur, "pacientes_convenios", "TRUE", ctx.rng)
    if pk is None:
        return None
    cur.execute("DELETE FROM pacientes_convenios WHERE id = %s RETURNING id, txid_current()", (pk,))
    return returning(cur, "pacientes_convenios", "delete")


def consulta_retencao(ctx: EventContext, cur: Cursor) -> Change | None:
    """The oldest cancelled consulta past the retention period is removed."""
    cur.execute(
        "SELECT id FROM consultas WHERE status = 'cancelada' AND data < now() - make_interval(days => %s) "
        "ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED",
        (ctx.retention_days,),
    )
    row = cur.fetchone()
    if row is None:
        return None
    cur.execute("DELETE FROM consultas WHERE id = %s RETURNING id, txid_current()", (row[0],))
    return returning(cur, "consultas", "delete")


DELETES = (
    EventKind("convenio_cancelamento", "pacientes_convenios", "delete", (), convenio_cancelamento),
    EventKind("consulta_retencao", "consultas", "delete", (), consulta_retencao),
)
