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


_NUMBERS = tuple(f"{n:03d}" for n in range(1000))  # a line's number, as written
# A finding line's UTF-8 bytes beyond its characters: the finding's own accents, one for the ê of
# "referência", one for the newline (the report's size is counted without encoding every line).
_LINE_EXTRA_BYTES = tuple(len(f.encode()) - len(f) + 2 for f in _FINDINGS)


def long_report_body(rng: random.Random, min_bytes: int = 3_000, max_bytes: int = 12_000) -> str:
    """Everything of a long laudo after its first line ``LAUDO DE <TIPO>``, which the stream's
    statement writes from the exam's own type (the size target counts a short header).

    Built on the stream's hot path (a long report every ~30 events of the default mix), so each
    value is one ``rng.random()`` (``randint`` costs several calls), the measure is formatted from
    integer tenths (float formatting cost more than the rest of the line), and the size is
    counted without encoding each line."""
    target = rng.randint(min_bytes, max_bytes)
    lines = ["", "", "Técnica: exame realizado conforme protocolo institucional.", ""]
    lines.append("Achados:")
    size = 20 + sum(len(line.encode()) + 1 for line in lines)
    draw = rng.random
    kinds = len(_FINDINGS)
    n = 0
    while size < target:
        n += 1
        finding = int(draw() * kinds)
        tenths = 1 + int(draw() * 999)  # 0.1-99.9 mm
        line = (
            f"{_NUMBERS[n] if n < len(_NUMBERS) else n}. {_FINDINGS[finding]} Medida {tenths // 10}.{tenths % 10} mm; "
            f"densidade {10 + int(draw() * 81)} UH; referência {1000 + int(draw() * 9000)}-{'ABCDEF'[int(draw() * 6)]}."
        )
        lines.append(line)
        size += len(line) + _LINE_EXTRA_BYTES[finding]
    lines += ["", f"Impressão: {rng.choice(_IMPRESSIONS)}", "Responsável técnico: CRM conferido eletronicamente."]
    return "\n".join(lines)
