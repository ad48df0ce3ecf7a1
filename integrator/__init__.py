"""The DIGIT bill-collection integrator: PoS devices and aggregators in, DIGIT receipts out."""
