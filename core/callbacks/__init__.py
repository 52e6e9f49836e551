"""The channel notifications ingress: an HTTP port of its own where channels post callbacks."""
