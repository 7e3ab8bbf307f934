"""Brazilian identifiers with valid check digits, derived from counters so they never collide.

Pure functions: no I/O, no global random state. ``index`` values map one-to-one onto identifiers
through an affine permutation, so consecutive rows get scattered, realistic-looking numbers.
"""

from __future__ import annotations

UFS = (
    "AC",
    "AL",
    "AP",
    "AM",
    "BA",
    "CE",
    "DF",
    "ES",
    "GO",
    "MA",
    "MT",
    "MS",
    "MG",
    "PA",
    "PB",
    "PR",
    "PE",
    "PI",
    "RJ",
    "RN",
    "RS",
    "RO",
    "RR",
    "SC",
    "SP",
    "SE",
    "TO",
)

# Multipliers coprime with the modulus make i -> (a*i + b) mod m a bijection on [0, m).
CPF_SPACE = 10**9
CPF_A, CPF_B = 387_420_489, 123_456_789  # 3**18: coprime with 10**9
_CNPJ_SPACE = 10**8
_CNPJ_A, _CNPJ_B = 43_046_721, 11_223_344  # 3**16: coprime with 10**8
_CRM_SPACE = 10**6
_CRM_A, _CRM_B = 531_441, 100_003  # 3**12: coprime with 10**6


def permute(index: int, space: int, a: int, b: int) -> int:
    """The index-th element of a fixed permutation of range(space)."""
    if not 0 <= index < space:
        raise ValueError(f"index {index} outside [0, {space})")
    return (a * index + b) % space


def cpf_check_digits(base9: str) -> str:
    """The two CPF verification digits of a 9-digit base."""
    digits = [int(c) for c in base9]
    for weight_start in (10, 11):
        total = sum(d * w for d, w in zip(digits, range(weight_start, 1, -1)))
        rest = total % 11
        digits.append(0 if rest < 2 else 11 - rest)
    return f"{digits[-2]}{digits[-1]}"


def format_cpf(base9: str) -> str:
    return f"{base9[:3]}.{base9[3:6]}.{base9[6:9]}-{cpf_check_digits(base9)}"


def cpf_for_index(index: int) -> str:
    """A unique, valid CPF (``123.456.789-09``) for each index in [0, 10**9)."""
    return format_cpf(f"{permute(index, CPF_SPACE, CPF_A, CPF_B):09d}")


def cnpj_check_digits(base12: str) -> str:
    """The two CNPJ verification digits of a 12-digit base (8 root + 4 branch)."""
    digits = [int(c) for c in base12]
    for weights in ((5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2), (6, 5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2)):
        rest = sum(d * w for d, w in zip(digits, weights)) % 11
        digits.append(0 if rest < 2 else 11 - rest)
    return f"{digits[-2]}{digits[-1]}"


def cnpj_for_index(index: int) -> str:
    """A unique, valid head-office CNPJ (``12.345.678/0001-95``) for each index in [0, 10**8)."""
    root = f"{permute(index, _CNPJ_SPACE, _CNPJ_A, _CNPJ_B):08d}"
    base = root + "0001"
    return f"{root[:2]}.{root[2:5]}.{root[5:8]}/0001-{cnpj_check_digits(base)}"


def crm_for_index(index: int, uf: str) -> str:
    """A CRM registration ``123456-SP``; unique per index for indexes below 10**6."""
    return f"{permute(index % _CRM_SPACE, _CRM_SPACE, _CRM_A, _CRM_B):06d}-{uf}"


def format_phone(ddd: int, number: int, mobile: bool) -> str:
    """``(11) 98765-4321`` for mobiles, ``(11) 3456-7890`` for landlines."""
    if mobile:
        return f"({ddd:02d}) 9{number // 10_000 % 10_000:04d}-{number % 10_000:04d}"
    return f"({ddd:02d}) {2 + number // 10_000 % 4}{number // 10_000 % 1000:03d}-{number % 10_000:04d}"
