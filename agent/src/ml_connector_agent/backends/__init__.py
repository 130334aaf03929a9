"""Ways to reach Sage 100 behind one interface (:class:`~.base.Backend`)."""
