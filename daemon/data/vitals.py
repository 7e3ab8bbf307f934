"""Vital signs of an adult inpatient (``sinais_vitais``): one reading, as a nurse charts it.

Most readings are unremarkable; some show what wards see every day: hypertension, fever (with
the heart rate it brings), a patient needing oxygen. Ranges stay physiological: systolic
70-220 mmHg, diastolic 40-130 (at least 15 below the systolic), heart rate 40-170 bpm,
temperature 34.5-41.5 °C (one decimal), SpO2 75-100 %.
"""

from __future__ import annotations

import random
from decimal import Decimal

COLUMNS = ("pressao_sistolica", "pressao_diastolica", "frequencia_cardiaca", "temperatura", "saturacao")
FEVER_SHARE = 0.08
HYPERTENSIVE_SHARE = 0.15
HYPOXIC_SHARE = 0.05


def _clamp(value: float, low: float, high: float) -> float:
    return max(low, min(high, value))


def reading(rng: random.Random) -> tuple[int, int, int, Decimal, int]:
    """(sistólica, diastólica, frequência cardíaca, temperatura, saturação)."""
    hypertensive = rng.random() < HYPERTENSIVE_SHARE
    systolic = round(_clamp(rng.gauss(158 if hypertensive else 120, 14), 70, 220))
    diastolic = round(_clamp(systolic * rng.gauss(0.64, 0.05), 40, min(130, systolic - 15)))
    fever = rng.random() < FEVER_SHARE
    temperature = _clamp(rng.gauss(38.4, 0.5) if fever else rng.gauss(36.6, 0.35), 34.5, 41.5)
    heart_rate = round(_clamp(rng.gauss(80, 12) + (temperature - 37.0) * 10 * fever, 40, 170))
    drop = abs(rng.gauss(0, 1.6)) + (rng.uniform(4, 12) if rng.random() < HYPOXIC_SHARE else 0)
    saturation = round(_clamp(98.5 - drop, 75, 100))
    return systolic, diastolic, heart_rate, Decimal(f"{temperature:.1f}"), saturation
