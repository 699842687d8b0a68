"""Content: editing articles, sections and authors; validation; slugs."""
