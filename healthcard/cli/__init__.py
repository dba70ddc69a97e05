"""healthcard/cli package."""
