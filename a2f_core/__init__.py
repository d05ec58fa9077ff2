"""a2f core: audio features, the Karras 2017 network in numpy, losses and safe checkpoints.

Nothing here imports bpy; only `model` and `losses` import torch (for training and tests).
"""

__version__ = "0.1.0"
