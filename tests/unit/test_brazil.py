"""Identifiers checked against an independent implementation of the check-digit rules."""

from __future__ import annotations

import re

from daemon.data import brazil
from tests.support.checkdigits import valid_cnpj, valid_cpf


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


# The 26 states and the Federal District, written out here independently of the daemon's list.
REAL_UFS = "AC AL AP AM BA CE DF ES GO MA MT MS MG PA PB PR PE PI RJ RN RS RO RR SC SP SE TO".split()


def test_crm_has_six_digits_and_a_real_uf():
    assert sorted(brazil.UFS) == sorted(REAL_UFS)
    ufs = [REAL_UFS[i % 27] for i in range(10_000)]
    crms = [brazil.crm_for_index(i, uf) for i, uf in enumerate(ufs)]
    assert len({crm.split("-")[0] for crm in crms}) == 10_000  # the number alone is unique
    for crm, uf in zip(crms, ufs, strict=True):
        assert re.fullmatch(rf"\d{{6}}-{uf}", crm), (crm, uf)


def test_phone_formats():
    assert re.fullmatch(r"\(\d{2}\) 9\d{4}-\d{4}", brazil.format_phone(11, 12345678, True))
    assert re.fullmatch(r"\(\d{2}\) [2-5]\d{3}-\d{4}", brazil.format_phone(21, 12345678, False))
