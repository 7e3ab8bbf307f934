"""Exam reports (laudos): short results, or long multi-section reports of several kB.

Long reports are stored out of line by PostgreSQL (TOAST; ``exames.resultado`` uses STORAGE
EXTERNAL), which is where CDC tools lose values when REPLICA IDENTITY is not FULL.
"""

from __future__ import annotations

import random

from daemon.data import vocab

_FINDINGS = (
    "Parênquima de aspecto habitual, sem lesões focais identificáveis.",
    "Discreto espessamento parietal, sem sinais de complicação.",
    "Estruturas vasculares pérvias, com fluxo de características normais.",
    "Ausência de coleções ou líquido livre na cavidade.",
    "Índices hematimétricos dentro da faixa de referência para idade e sexo.",
    "Ritmo sinusal regular, eixo elétrico normal, sem alterações de repolarização.",
    "Pequena imagem nodular de contornos regulares, provavelmente benigna; controle sugerido.",
    "Alterações degenerativas leves, compatíveis com a faixa etária.",
)
_IMPRESSIONS = (
    "Exame dentro dos limites da normalidade.",
    "Achados inespecíficos; correlacionar com a clínica.",
    "Alterações discretas; sugere-se reavaliação em 6 meses.",
    "Achados compatíveis com processo inflamatório agudo.",
)


def short_result(rng: random.Random) -> str:
    return rng.choice(vocab.RESULTADOS_CURTOS)


def long_report(rng: random.Random, tipo_exame: str, min_bytes: int = 3_000, max_bytes: int = 12_000) -> str:
    """A laudo of ``min_bytes``-``max_bytes`` UTF-8 bytes with varied content (so it stays large)."""
    return f"LAUDO DE {tipo_exame.upper()}" + long_report_body(rng, min_bytes, max_bytes)


def long_report_body(rng: random.Random, min_bytes: int = 3_000, max_bytes: int = 12_000) -> str:
    """Everything of a long laudo after its first line ``LAUDO DE <TIPO>``, which the stream's
    statement writes from the exam's own type (the size target counts a short header)."""
    target = rng.randint(min_bytes, max_bytes)
    lines = ["", "", "Técnica: exame realizado conforme protocolo institucional.", ""]
    lines.append("Achados:")
    size = 20 + sum(len(line.encode()) + 1 for line in lines)
    n = 0
    while size < target:
        n += 1
        line = (
            f"{n:03d}. {rng.choice(_FINDINGS)} Medida {rng.uniform(0.1, 99.9):.1f} mm; "
            f"densidade {rng.randint(10, 90)} UH; referência {rng.randint(1000, 9999)}-{rng.choice('ABCDEF')}."
        )
        lines.append(line)
        size += len(line.encode()) + 1
    lines += ["", f"Impressão: {rng.choice(_IMPRESSIONS)}", "Responsável técnico: CRM conferido eletronicamente."]
    return "\n".join(lines)
