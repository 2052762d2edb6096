"""Local stand-ins for outside services (tests and demos)."""
