"""The service layer: per-principal facades over the domain packages."""
