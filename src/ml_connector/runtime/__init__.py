"""Ties the parts into the running service: pipelines, scheduler, delivery and web."""
