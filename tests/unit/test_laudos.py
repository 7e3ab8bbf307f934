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
    measures, densities, references, letters, findings = set(), set(), set(), set(), set()
    for _ in range(60):
        lines = laudos.long_report_body(rng).split("\n")
        assert lines[:5] == ["", "", "Técnica: exame realizado conforme protocolo institucional.", "", "Achados:"]
        assert lines[-2].startswith("Impressão: ") and lines[-3] == ""
        for n, line in enumerate(lines[5:-3], start=1):
            number, finding, mm, tenth, density, reference, letter = FINDING.fullmatch(line).groups()
            assert int(number) == n
            findings.add(finding)
            measures.add(int(mm) * 10 + int(tenth))
            densities.add(int(density))
            references.add(int(reference))
            letters.add(letter)
    assert findings == set(laudos._FINDINGS) and letters == set("ABCDEF")
    assert min(measures) == 1 and max(measures) == 999  # 0.1 to 99.9 mm, both ends drawn
    assert min(densities) == 10 and max(densities) == 90
    assert 1000 <= min(references) < 1100 and 9900 < max(references) <= 9999


def test_a_report_of_more_than_999_findings_numbers_on() -> None:
    lines = laudos.long_report_body(random.Random(1), 150_000, 150_000).split("\n")[5:-3]
    assert len(lines) > 1000
    assert [line.split(".", 1)[0] for line in lines[998:1001]] == ["999", "1000", "1001"]
