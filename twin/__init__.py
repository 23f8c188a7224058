"""Composition: the twin command and the services that wire the packages together."""
