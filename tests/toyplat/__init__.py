"""A toy platform built from docs/platforms.md alone: one signed operation, one rule, one table, one role."""
