"""``evtop queues``: how many messages wait in each task queue, and who consumes them."""
