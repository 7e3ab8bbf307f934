"""Logical decoding messages (``pg_logical_emit_message``), no SCHEMA_EXTRAS needed; off until
given a weight in STREAM_EXTRA_WEIGHTS.

- ``mensagem_transacional``: a bed-occupancy panel update, emitted *in* its transaction
  (``transactional = true``): decoded at commit, with the transaction's xid;
- ``mensagem_avulsa``: an audit note of a record access, emitted *outside* any transaction
  (``false``): decoded at once, even if the transaction rolled back; Debezium gives it a null
  ``source.txId``.

Both carry the STREAM_MESSAGE_PREFIX and a JSON content (UTF-8 text). Debezium's pgoutput
connector delivers them on ``<topic.prefix>.message`` with ``op: m``, key ``{prefix}`` and
``message: {prefix, content}`` (content as bytes: base64 in JSON). Each is a ``plain``
statement (a SELECT of the function) followed by the writer's mark; the ledger records
``Change("", "message", 0, txid, detail=(prefix, content, transactional))``.
"""

from __future__ import annotations

import json
import unicodedata

from daemon.data.rows import BRT
from daemon.stream.kinds.base import EventContext, EventKind, Statement

# Ward -> beds: the panel a bed-management (NIR) screen shows.
WARDS = {
    "UTI Adulto": 20,
    "UTI Neonatal": 10,
    "Clínica Médica": 48,
    "Clínica Cirúrgica": 36,
    "Pediatria": 24,
    "Maternidade": 30,
    "Semi-intensiva": 12,
}
ROLES = ("enf", "med", "farm", "fisio", "adm")
ACCESS_REASONS = (
    "Administração de medicação",
    "Evolução clínica",
    "Prescrição médica",
    "Conferência de exames",
    "Faturamento da conta",
    "Solicitação do paciente (cópia do prontuário)",
    "Auditoria interna",
)


def _text(document: dict[str, object]) -> str:
    return json.dumps(document, ensure_ascii=False, separators=(",", ":"))


def _message(ctx: EventContext, transactional: bool, content: str) -> Statement:
    prefix = ctx.message_prefix
    return Statement(
        "",
        "message",
        f"SELECT pg_logical_emit_message({'true' if transactional else 'false'}, %(prefix)s, %(content)s)",
        {"prefix": prefix, "content": content},
        plain=True,
        detail=(("prefix", prefix), ("content", content), ("transactional", transactional)),
    )


def ocupacao(ctx: EventContext) -> Statement:
    """The bed panel of one ward, as refreshed by the bed-management office."""
    ward, beds = ctx.rng.choice(tuple(WARDS.items()))
    occupied = min(beds, round(beds * ctx.rng.triangular(0.6, 1.0, 0.88)))
    blocked = ctx.rng.choice((0, 0, 0, 1, 2)) if occupied < beds else 0
    content = _text(
        {
            "tipo": "ocupacao_leitos",
            "ala": ward,
            "leitos": beds,
            "ocupados": occupied,
            "bloqueados": blocked,
            "livres": beds - occupied - blocked,
            "taxa_ocupacao": round(occupied / beds, 3),
            "atualizado_em": ctx.data.anchor.astimezone(BRT).isoformat(timespec="seconds"),
        }
    )
    return _message(ctx, True, content)


def auditoria(ctx: EventContext) -> Statement:
    """Who opened whose record, and why (kept even when the work around it rolls back)."""
    pools = ctx.data.pools
    first = ctx.rng.choice(pools.female_first if ctx.rng.random() < 0.5 else pools.male_first)
    user = f"{ctx.rng.choice(ROLES)}.{first}.{ctx.rng.choice(pools.last)}".lower().replace(" ", "")
    content = _text(
        {
            "tipo": "auditoria",
            "evento": "acesso_prontuario",
            "usuario": unicodedata.normalize("NFKD", user).encode("ascii", "ignore").decode(),
            "paciente_id": ctx.ids.pick("pacientes", ctx.rng),
            "motivo": ctx.rng.choice(ACCESS_REASONS),
            "em": ctx.data.anchor.astimezone(BRT).isoformat(timespec="seconds"),
        }
    )
    return _message(ctx, False, content)


MESSAGES = (
    EventKind("mensagem_transacional", "", "message", (), ocupacao),
    EventKind("mensagem_avulsa", "", "message", ("pacientes",), auditoria),
)
