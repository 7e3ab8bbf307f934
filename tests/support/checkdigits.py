"""Brazilian check-digit rules, implemented independently of ``daemon.data.brazil``."""

from __future__ import annotations

import re


def valid_cpf(cpf: str) -> bool:
    # Independent rule: for each check digit, sum(d_i * weight) * 10 mod 11 (10 -> 0) equals it.
    digits = list(map(int, re.sub(r"\D", "", cpf)))
    if len(digits) != 11:
        return False
    for n in (9, 10):
        expected = sum(d * w for d, w in zip(digits[:n], range(n + 1, 1, -1))) * 10 % 11 % 10
        if digits[n] != expected:
            return False
    return True


def valid_cnpj(cnpj: str) -> bool:
    digits = list(map(int, re.sub(r"\D", "", cnpj)))
    if len(digits) != 14:
        return False
    weights = [6, 5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2]
    for n in (12, 13):
        total = sum(d * w for d, w in zip(digits[:n], weights[13 - n :]))
        expected = total % 11
        expected = 0 if expected < 2 else 11 - expected
        if digits[n] != expected:
            return False
    return True
