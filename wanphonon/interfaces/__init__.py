"""Interfaces to other codes (WannierBerri calculators)."""
