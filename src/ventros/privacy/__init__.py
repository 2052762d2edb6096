"""LGPD: what is stored about a person (export), erasing it (anonymise), and retention."""
