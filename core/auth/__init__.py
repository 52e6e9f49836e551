"""Who may call what: roles and the one policy table (pure), and API key authentication."""
