"""unlearnlab."""
