"""The local demo: the loopback Discord simulator, a seeded crowd and the real bot, in one process."""
