"""Identifiers checked against an independent implementation of the check-digit rules."""

from __future__ import annotations

import re

from daemon.data import brazil


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


def test_known_valid_documents():
    assert valid_cpf("529.982.247-25")  # widely published valid example
    assert not valid_cpf("529.982.247-24")
    assert valid_cnpj("11.222.333/0001-81")
    assert not valid_cnpj("11.222.333/0001-80")


def test_cpfs_are_valid_formatted_and_unique():
    cpfs = [brazil.cpf_for_index(i) for i in range(50_000)]
    assert len(set(cpfs)) == len(cpfs)
    assert all(re.fullmatch(r"\d{3}\.\d{3}\.\d{3}-\d{2}", c) for c in cpfs)
    assert all(valid_cpf(c) for c in cpfs)


def test_cpfs_at_the_far_end_of_the_space():
    for index in (10**9 - 1, 10**8, 987_654_321):
        assert valid_cpf(brazil.cpf_for_index(index))


def test_cnpjs_are_valid_formatted_and_unique():
    cnpjs = [brazil.cnpj_for_index(i) for i in range(20_000)]
    assert len(set(cnpjs)) == len(cnpjs)
    assert all(re.fullmatch(r"\d{2}\.\d{3}\.\d{3}/0001-\d{2}", c) for c in cnpjs)
    assert all(valid_cnpj(c) for c in cnpjs)


def test_lookup_cnpjs_in_sql_are_valid():
    from daemon.pg import sqlfiles

    found = re.findall(r"\d{2}\.\d{3}\.\d{3}/\d{4}-\d{2}", sqlfiles.load("03_seed_lookups"))
    assert len(found) == 2 and all(valid_cnpj(c) for c in found)


def test_crm_has_six_digits_and_a_real_uf():
    crms = {brazil.crm_for_index(i, "SP") for i in range(10_000)}
    assert len(crms) == 10_000
    for crm in crms:
        digits, uf = crm.split("-")
        assert len(digits) == 6 and digits.isdigit() and uf in brazil.UFS
    assert len(brazil.UFS) == 27


def test_phone_formats():
    assert re.fullmatch(r"\(\d{2}\) 9\d{4}-\d{4}", brazil.format_phone(11, 12345678, True))
    assert re.fullmatch(r"\(\d{2}\) [2-5]\d{3}-\d{4}", brazil.format_phone(21, 12345678, False))
