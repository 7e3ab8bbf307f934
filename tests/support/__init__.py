"""Helpers shared by every test tier (unit, integration, acceptance, cdc, container)."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
