"""Application wiring: the pipeline that builds and nests every actor, and the router that feeds them."""
