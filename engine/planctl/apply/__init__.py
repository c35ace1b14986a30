"""apply: orchestration of the stages, the promotion decision, atomic emit and rollback."""
