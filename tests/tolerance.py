"""Float tolerances derived from float32 precision, for results that may round differently.

BLAS picks its kernels, blocking and summation order by matrix shape and by CPU, so the same
values computed through other shapes (chunks, batches, torch instead of numpy) or on another CPU
differ by rounding: a few ulps of the values summed, per layer. Where a test compares such
results it allows `ULPS` float32 ulps of the computation's scale. A real fault (a frame shifted,
a seam between chunks, a missing term) moves the outputs by 1e-3 or more, far above that.
Results computed by the same code on the same shapes are compared exactly instead.
"""

import numpy as np

EPS32 = float(np.finfo(np.float32).eps)  # 2**-23, one ulp at 1.0
ULPS = 256  # dot products of a few hundred terms through a few layers: tens of ulps each


def float32_atol(*references, ulps=ULPS) -> float:
    """`ulps` float32 ulps at the largest magnitude among `references`, and at least at 1.0:
    the networks' activations are of order 1 (standardised inputs), so their rounding is too,
    even where an output is smaller."""
    scale = max([1.0] + [float(np.abs(np.asarray(r, np.float64)).max(initial=0.0))
                         for r in references])
    return ulps * EPS32 * scale


# Blender's bake and a test's own Animator animate the same audio in other chunks, and Blender
# keeps key values as float32: rounding of values of order 1.
BAKE_ATOL = float32_atol()
