"""Long laudos: the size asked for in UTF-8 bytes, numbered findings with values in range."""

from __future__ import annotations

import random
import re

from daemon.data import laudos

FINDING = re.compile(r"(\d{3,})\. (.+) Medida (\d+)\.(\d) mm; densidade (\d+) UH; referência (\d{4})-([A-F])\.")


def test_a_long_report_is_the_size_asked_for_in_bytes() -> None:
    for seed in range(300):
        target = random.Random(seed).randint(3_000, 12_000)  # the report's first draw
        lines = laudos.long_report_body(random.Random(seed)).split("\n")
        findings = lines[5:-3]  # after the header, before "", "Impressão", "Responsável"
        # the size counted as the UTF-8 bytes of the lines, each with its newline, plus 20 for the
        # "LAUDO DE <TIPO>" line: the last finding took it over the target, not one before it
        size = 20 + sum(len(line.encode()) + 1 for line in lines[: len(lines) - 3])
        assert size - len(findings[-1].encode()) - 1 < target <= size, seed


def test_findings_are_numbered_with_values_in_range() -> None:
    rng = random.Random(7)
    seen_letters: set[str] = set()
    for _ in range(50):
        lines = laudos.long_report_body(rng).split("\n")
        assert lines[:5] == ["", "", "Técnica: exame realizado conforme protocolo institucional.", "", "Achados:"]
        assert lines[-2].startswith("Impressão: ") and lines[-3] == ""
        for n, line in enumerate(lines[5:-3], start=1):
            number, finding, mm, tenth, density, reference, letter = FINDING.fullmatch(line).groups()
            assert int(number) == n and finding in laudos._FINDINGS
            assert 0.1 <= int(mm) + int(tenth) / 10 <= 99.9
            assert 10 <= int(density) <= 90 and 1000 <= int(reference) <= 9999
            seen_letters.add(letter)
    assert seen_letters == set("ABCDEF")
