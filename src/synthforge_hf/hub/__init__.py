"""Hub publishing: cards and uploads."""
