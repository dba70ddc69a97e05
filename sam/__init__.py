"""sam package."""
