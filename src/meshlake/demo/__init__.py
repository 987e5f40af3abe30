"""The reference data-mesh scenario (``make demo`` / ``meshlake demo``) and its data."""

from __future__ import annotations

from pathlib import Path

__all__ = ["CODEBOOK", "CONTRACT", "DATA_DIR", "STATLOG"]

DATA_DIR = Path(__file__).with_name("data")
STATLOG = DATA_DIR / "statlog-german.data"
CODEBOOK = DATA_DIR / "codebook.yaml"
CONTRACT = Path(__file__).with_name("contracts") / "credit_card.odcs.yaml"
