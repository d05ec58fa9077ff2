"""Lip contact training, in one place: which target frames have the lips touching (shut_lips.py),
the log-mel detector (detector.py) and `a2f contact`, which fits a checkpoint's head (fit.py)."""
