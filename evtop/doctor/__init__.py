"""``evtop doctor``: a short listen, then what evtop can and cannot see of the cluster."""
