"""The emergency triage queue (``SCHEMA_EXTRAS=fila_triagem``): arrivals, and the shift handover
that empties the queue with ``TRUNCATE`` (Debezium's ``op: t``, which it skips by default).

An arrival gets a Manchester risk colour with the share a Brazilian emergency room sees (few
reds, most yellow and green) and a chief complaint (queixa) that fits the colour. The handover
is one ``TRUNCATE fila_triagem``: a statement that cannot sit in a CTE, so it goes as a
``plain`` statement (``daemon.stream.message.compose_plain``), still one message and one
transaction, recorded in the ledger as ``Change("fila_triagem", "truncate", 0, txid)``.
"""

from __future__ import annotations

from daemon.stream.kinds.base import EventContext, EventKind, Statement

# Manchester Triage System (Protocolo de Manchester): colour -> share of arrivals and complaints.
MANCHESTER: dict[str, tuple[float, tuple[str, ...]]] = {
    "vermelho": (0.02, (
        "Parada cardiorrespiratória", "Politraumatismo grave", "Choque hipovolêmico",
        "Insuficiência respiratória grave", "Convulsão em curso", "Rebaixamento do nível de consciência",
    )),
    "laranja": (0.10, (
        "Dor torácica intensa", "Dispneia importante", "Déficit neurológico súbito", "Hemorragia ativa",
        "Dor abdominal intensa", "Febre em imunossuprimido", "Hipoglicemia sintomática",
    )),
    "amarelo": (0.33, (
        "Dor abdominal moderada", "Vômitos persistentes", "Febre alta", "Crise hipertensiva sem sintomas",
        "Fratura fechada", "Cefaleia intensa", "Crise asmática moderada", "Dor lombar com irradiação",
    )),
    "verde": (0.45, (
        "Dor de garganta", "Entorse de tornozelo", "Lombalgia", "Diarreia sem desidratação", "Otalgia",
        "Corte superficial", "Sintomas gripais", "Infecção urinária sem febre", "Cefaleia leve",
    )),
    "azul": (0.10, (
        "Troca de receita", "Retirada de pontos", "Atestado médico", "Curativo", "Resultado de exames",
        "Renovação de medicação de uso contínuo",
    )),
}  # fmt: skip
COLOURS = tuple(MANCHESTER)
SHARES = tuple(share for share, _ in MANCHESTER.values())


def chegada(ctx: EventContext) -> Statement:
    """A paciente arrives and is classified."""
    colour = ctx.rng.choices(COLOURS, SHARES)[0]
    return Statement(
        "fila_triagem",
        "insert",
        "INSERT INTO fila_triagem (paciente_id, classificacao, queixa) "
        "VALUES (%(paciente)s, %(classificacao)s, %(queixa)s) RETURNING id",
        {
            "paciente": ctx.ids.pick("pacientes", ctx.rng),
            "classificacao": colour,
            "queixa": ctx.rng.choice(MANCHESTER[colour][1]),
        },
    )


def passagem_turno(ctx: EventContext) -> Statement:
    """The shift hands over: the queue is emptied at once (the next shift triages anew)."""
    return Statement("fila_triagem", "truncate", "TRUNCATE fila_triagem", {}, plain=True)


TRIAGEM = (
    EventKind("triagem_chegada", "fila_triagem", "insert", ("pacientes",), chegada, extra="fila_triagem"),
    EventKind("triagem_passagem_turno", "fila_triagem", "truncate", (), passagem_turno, extra="fila_triagem"),
)
