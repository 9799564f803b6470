"""Tuning: one MetaSchedule session per device kind over the Ray farm, and the variants they produce."""
