"""The lip region of a FLAME mesh (VOCASET), for the lip vertex error and the bilabial metric.

The published region is the 'lips' entry of FLAME_masks.pkl (FLAME licence, not shipped here);
`--flame-masks FILE` uses it. Without it the region is an APPROXIMATION derived from the template
alone, using FLAME's frame (metres, y up, z towards the viewer) and adult anthropometry: the lips
lie 15-55 mm below the nose tip (the front-most vertex near the mid-line), within 28 mm of the
mid-line and at most 40 mm behind the nose tip. It has not been compared with the published mask
(which cannot be downloaded here), so LVE numbers from it are comparable between a2f runs, not
with papers. Either way the upper and lower lip groups are the region's vertices above and below
its vertical middle.
"""

import numpy as np

from a2f_core.errors import DatasetError
from . import safe_pickle

BELOW_NOSE = (0.015, 0.055)  # m: vertical range of the lips under the nose tip
HALF_WIDTH = 0.028           # m: lips within this distance of the nose tip's x
DEPTH = 0.040                # m: lips at most this far behind the nose tip
MIN_VERTICES = 30


def lip_groups(template: np.ndarray, flame_masks=None):
    """(lips, upper, lower) vertex index arrays for a (V, 3) FLAME template."""
    if flame_masks is not None:
        lips = _published(flame_masks, len(template))
    else:
        lips = _derived(template)
    y = template[lips, 1]
    middle = (y.min() + y.max()) / 2
    return lips, lips[y > middle], lips[y <= middle]


def _published(path, vertex_count):
    masks = safe_pickle.load(path)
    lips = masks.get("lips") if isinstance(masks, dict) else None
    if lips is None:
        raise DatasetError(f"{path}: expected a dict with a 'lips' entry (FLAME_masks.pkl)")
    lips = np.unique(np.asarray(lips, np.int64).ravel())
    if lips.size == 0 or lips.min() < 0 or lips.max() >= vertex_count:
        raise DatasetError(f"{path}: 'lips' must hold vertex indices below {vertex_count}")
    return lips


def _derived(template):
    x, y, z = template[:, 0], template[:, 1], template[:, 2]
    midline = np.abs(x - np.median(x)) < 0.01
    nose = np.flatnonzero(midline)[np.argmax(z[midline])] if midline.any() else np.argmax(z)
    below = y[nose] - y
    lips = np.flatnonzero((below >= BELOW_NOSE[0]) & (below <= BELOW_NOSE[1])
                          & (np.abs(x - x[nose]) <= HALF_WIDTH) & (z >= z[nose] - DEPTH))
    if lips.size < MIN_VERTICES:
        raise DatasetError(f"found only {lips.size} lip vertices below the nose tip: the template "
                           "does not look like a FLAME head in metres (y up, z forward); pass "
                           "--flame-masks FLAME_masks.pkl")
    return lips
