"""TISS guias: the seed's hand-written COPY lines are the generic encoding of the same values."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from daemon.data.copytext import encode_row
from daemon.data.guias import Guias, interval_text
from daemon.seed.guias import COLUMNS, copy_line


def test_copy_lines_are_the_generic_encoding():
    guias = Guias(random.Random(3))
    when = datetime(2026, 5, 4, 10, 0, tzinfo=UTC)
    seen = set()
    for i in range(400):
        tipo = ("consulta", "sp_sadt", "internacao")[i % 3]
        guia = guias.aberta(tipo, when, when + timedelta(days=i % 9) if i % 2 else None)
        guia.update(consulta_id=None if tipo == "internacao" else i + 1, convenio_id=1 + i % 5)
        guia["internacao_id"] = i + 1 if tipo == "internacao" else None
        if i % 4:
            guia = guias.fechada(guia, ("faturada", "paga", "glosada")[i % 3], sus=i % 5 == 0)
        line = copy_line(guia)
        assert line == encode_row([guia.get(c) for c in COLUMNS]), guia
        seen |= {c for c in COLUMNS if guia.get(c) is not None}
        seen |= {str(v) for v in (guia.get("fator_reajuste"), guia["validade_fim"]) if str(v) in ("NaN", "infinity")}
    assert seen >= {*COLUMNS, "NaN", "infinity"}


def test_interval_text():
    assert interval_text(59) == "00:00:59"
    assert interval_text(3 * 86_400 + 4 * 3600 + 12 * 60) == "3 days 04:12:00"
