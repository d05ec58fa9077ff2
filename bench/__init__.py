"""`make bench`: speed measured as ratios against a baseline run in the same process."""
