"""sam/crypto package."""
