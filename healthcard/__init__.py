"""healthcard package."""
