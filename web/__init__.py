"""The per-server web page: the boards as members see them, the 30-day chart, the archive, live."""
