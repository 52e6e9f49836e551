"""Channel adapters (implementations of router.channel.Channel)."""
