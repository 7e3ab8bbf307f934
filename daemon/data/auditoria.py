"""What a billing auditor writes on a guia (SCHEMA_EXTRAS=faturamento with schema changes).

``nota_glosa``: the reason the operadora refused part of a guia, as the hospital's auditor
notes it (a reason in the style of the TISS glosa table: a code, its text, and the detail);
``recurso``: the hospital's appeal of that glosa. Pure generators, no database.
"""

from __future__ import annotations

import random

# (code, reason) in the style of the TISS table of glosa reasons.
MOTIVOS_GLOSA = (
    ("1001", "Número da carteira inválido"),
    ("1702", "Cobrança de procedimento não autorizado"),
    ("1705", "Valor apresentado a maior"),
    ("1714", "Cobrança de procedimento em duplicidade"),
    ("1801", "Procedimento incompatível com o sexo do beneficiário"),
    ("2001", "Ausência de justificativa clínica"),
    ("2106", "Diária não justificada pelo quadro clínico"),
    ("3052", "Guia sem assinatura do médico assistente"),
)
DETALHES = (
    "Conferido com o prontuário.",
    "Operadora solicitou laudo complementar.",
    "Divergência entre a guia e a autorização prévia.",
    "Tabela contratual aplicada pela operadora difere da praticada.",
    "Procedimento lançado duas vezes na conta.",
    "Falta a evolução médica do dia cobrado.",
)
ARGUMENTOS = (
    "Anexado relatório médico justificando o procedimento.",
    "Autorização prévia concedida por telefone (protocolo anexado).",
    "Valor conforme tabela vigente no contrato.",
    "Evolução clínica do período anexada.",
    "Procedimento realizado uma única vez: cobrança corrigida.",
)
AUDITORES = ("Enf. Auditora Cláudia", "Dr. Auditor Marcos", "Enf. Auditor Paulo", "Dra. Auditora Renata")


def nota_glosa(rng: random.Random) -> str:
    """An auditor's note on a refused guia: ``[1705] Valor apresentado a maior. <detail> (<auditor>)``."""
    code, reason = rng.choice(MOTIVOS_GLOSA)
    return f"[{code}] {reason}. {rng.choice(DETALHES)} ({rng.choice(AUDITORES)})"


def recurso(rng: random.Random) -> str:
    """The hospital's appeal of a glosa: its argument and who filed it."""
    return f"Recurso de glosa: {rng.choice(ARGUMENTOS)} ({rng.choice(AUDITORES)})"
