"""The torch parts of the core: the network in torch and its losses, for training only.

Everything else in a2f_core runs on numpy alone; the add-on zip leaves this folder out."""
