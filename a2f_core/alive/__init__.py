"""A face that is alive: blinks, gaze, brows and head motion added to the network's output.

The network learns the face's speech and emotion from audio; what it does not learn (blinks,
eye movements, head motion, brows that follow the voice's accents) is added here as a
controllable, seeded layer, numpy only. Data flows one way:
audio -> `prosody` (F0 from `pitch`, loudness, pauses, accents) -> `blinks`, `gaze`, `head`
-> `compose` (added to the network's frames where it is silent, never on the mouth).
`regions` shapes the network's own output (strength and smoothing of upper face, lower face, lips).
"""
