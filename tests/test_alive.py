"""The liveliness layer (a2f_core/alive): F0 on real speech, blinks, gaze, head and brows,
how they join the network's output, and per-region shaping."""

import subprocess

import numpy as np
import pytest

from a2f_core.alive import blinks, compose, gaze, pitch, prosody, regions
from a2f_core.alive.compose import LifeSettings, Mood, add_life, liven, make_life
from a2f_core.arkit import ARKIT_NAMES
from a2f_core.audio import SAMPLE_RATE, load_audio
from tolerance import EPS32

SENTENCES = ["My fellow Americans, ask not what your country can do for you.",
             "The quick brown fox jumps over the lazy dog.",
             "Please bring me a bowl of warm soup, and some bread before noon."]


def espeak(tmp_path, text, *options):
    path = tmp_path / "espeak.wav"
    subprocess.run(["espeak-ng", *options, "-w", str(path), text], check=True)
    return load_audio(path)


def pause_track(minutes, seed=0):
    """Prosody of a synthetic talker: speech runs of 1-4 s between pauses of 0.2-1 s."""
    rng = np.random.default_rng(seed)
    speech = []
    while len(speech) < minutes * 60 * prosody.RATE:
        speech += [True] * int(rng.uniform(1, 4) * prosody.RATE)
        speech += [False] * int(rng.uniform(0.2, 1.0) * prosody.RATE)
    speech = np.array(speech[:int(minutes * 60 * prosody.RATE)])
    zeros = np.zeros(len(speech), np.float32)
    return prosody.Prosody(np.full(len(speech), np.nan, np.float32), zeros, speech, zeros, zeros)


# --- F0 ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("f0", [80.0, 120.0, 210.0, 330.0])
def test_yin_finds_the_period_of_a_glottal_pulse_train(f0):
    """Pulses through a decaying 700 Hz resonance: a vowel-like buzz of exactly known F0."""
    n = SAMPLE_RATE
    pulses = np.zeros(n)
    pulses[(np.arange(0, n, SAMPLE_RATE / f0)).astype(int)] = 1
    k = np.arange(200)
    x = np.convolve(pulses, np.exp(-k / 20) * np.sin(2 * np.pi * 700 * k / SAMPLE_RATE), "same")
    found, _ = pitch.yin(x.astype(np.float32), SAMPLE_RATE)
    inner = found[3:-3]
    assert np.isfinite(inner).all()
    # pulses sit on whole samples, so periods jitter by one sample in 16000 / f0; the 4 kHz
    # analysis and its parabolic refinement keep the estimate within 1%
    assert np.abs(inner / f0 - 1).max() < 0.01


def reference_f0(x, hop):
    """Brute force, independent of YIN: per frame, the lag of the highest normalised
    autocorrelation over 40 ms of 16 kHz audio, 2.5-16 ms (62-400 Hz); nan below 0.6."""
    width, lags = 640, np.arange(40, 257)
    out = np.full(-(-len(x) // hop), np.nan)
    padded = np.concatenate([np.zeros(width), x, np.zeros(2 * width)])
    for k in range(len(out)):
        seg = padded[k * hop + width // 2:][:width + 257]
        a = seg[:width]
        corr = np.array([a @ seg[lag:lag + width] for lag in lags])
        norm = np.sqrt((a @ a) * np.array([seg[lag:lag + width] @ seg[lag:lag + width]
                                           for lag in lags])) + 1e-12
        score = corr / norm
        if score.max() > 0.6:
            out[k] = SAMPLE_RATE / lags[score.argmax()]
    return out


def test_yin_agrees_with_brute_force_autocorrelation_on_real_speech(tmp_path):
    x = espeak(tmp_path, SENTENCES[0])
    found, _ = pitch.yin(x, SAMPLE_RATE)
    ref = reference_f0(x, int(SAMPLE_RATE * pitch.HOP_SECONDS))
    both = np.isfinite(found) & np.isfinite(ref)
    assert both.mean() > 0.3  # speech is mostly voiced
    agree = np.abs(np.log2(found[both] / ref[both])) < np.log2(1.05)
    # the two disagree on octave jumps at voicing edges, where a frame holds two periods
    assert agree.mean() > 0.85


def test_a_higher_voice_gives_a_higher_f0(tmp_path):
    """espeak-ng's -p moves the voice's base pitch: the tracker follows it."""
    medians = [np.nanmedian(prosody.analyse(espeak(tmp_path, SENTENCES[0], "-p", p)).f0_hz)
               for p in ("20", "50", "80")]
    assert 60 < medians[0] < medians[1] < medians[2] < 250
    assert medians[2] / medians[0] > 1.3


def test_prosody_finds_a_pause_between_two_sentences(tmp_path):
    a = espeak(tmp_path, SENTENCES[1])
    b = espeak(tmp_path, SENTENCES[2])
    x = np.concatenate([a, np.zeros(SAMPLE_RATE // 2, np.float32), b])
    p = prosody.analyse(x)
    join = len(a) / SAMPLE_RATE
    onsets = p.pause_onsets / prosody.RATE
    # espeak-ng ends each sentence with its own silence: the pause starts before the join
    assert np.any((onsets < join) & (onsets > join - 0.6))
    assert not p.speech[int(join * prosody.RATE):int((join + 0.5) * prosody.RATE)].any()
    # a louder recording is the same prosody: everything is relative to the clip (4x is a
    # power of two: every product and sum scales exactly, so F0 is the same to the bit)
    q = prosody.analyse(4 * x)
    assert np.array_equal(p.speech, q.speech)
    np.testing.assert_array_equal(p.f0_hz, q.f0_hz)
    # a noisy room (noise 25 dB under the speech): the pause is found above its floor
    level = np.sqrt(np.mean(x[np.abs(x) > 0.01] ** 2))
    noisy = x + np.random.default_rng(0).normal(0, level * 10 ** (-25 / 20), len(x))
    r = prosody.analyse(noisy.astype(np.float32))
    assert r.speech.mean() < 0.95
    assert not r.speech[int((join + 0.1) * prosody.RATE):int((join + 0.4) * prosody.RATE)].any()


# --- blinks -----------------------------------------------------------------------------------

def test_blink_statistics_over_ten_minutes_of_pauses():
    p = pause_track(10)
    events = blinks.sample_blinks(600.0, p.pause_onsets / prosody.RATE,
                                  np.random.default_rng(5))
    per_minute = len(events.start) / 10
    assert 10 <= per_minute <= 25
    assert abs(per_minute - blinks.RATE_PER_MINUTE) < 0.25 * blinks.RATE_PER_MINUTE
    assert ((events.close > 0.05) & (events.close < 0.15)).all()
    assert ((events.open >= 0.12) & (events.open < 0.3)).mean() == 1.0
    assert 0.15 < np.median(events.open) < 0.25
    intervals = np.diff(events.start)
    doubles = intervals < blinks.REFRACTORY_SECONDS
    assert 0.02 < doubles.mean() < 0.15   # occasional double blinks
    assert intervals[doubles].min() > events.close.max()  # the second follows the first
    assert 1.5 < np.median(intervals[~doubles]) < 6.0
    # both lids together, with a tiny asymmetry
    assert np.abs(events.depth[:, 0] - events.depth[:, 1]).max() < 0.1
    assert np.abs(events.lag).max() < 0.02


def test_blinks_cluster_at_pauses():
    p = pause_track(10, seed=1)
    boundaries = p.pause_onsets / prosody.RATE
    events = blinks.sample_blinks(600.0, boundaries, np.random.default_rng(2))
    window = blinks.PAUSE_WINDOW_SECONDS
    after = np.searchsorted(boundaries, events.start, side="right") - 1
    near = (after >= 0) & (events.start - boundaries[np.maximum(after, 0)] < window)
    chance = len(boundaries) * window / 600.0  # share of the time within a window
    assert near.mean() > 2 * chance


def test_blink_curves_close_fully_and_reopen():
    events = blinks.sample_blinks(60.0, [], np.random.default_rng(0))
    t = np.arange(0, 60, 1 / 240)
    lids = events.curves(t)
    for s in events.start[:5]:
        inside = (t >= s) & (t < s + 0.5)
        assert lids[inside].max() > 0.9
    assert lids.min() == 0.0 and lids.max() <= 1.0
    assert lids[t < events.start[0]].max() == 0.0


def test_sad_blinks_slower_and_surprise_blinks_less():
    p = pause_track(10)
    seconds = np.arange(0, 600, 1 / 30)
    count = lambda mood: len(blinks.sample_blinks(  # noqa: E731
        600.0, p.pause_onsets / prosody.RATE, np.random.default_rng(0),
        blinks.RATE_PER_MINUTE * mood.blink_rate, mood.blink_slowness).start)
    assert count(Mood(surprised=1.0)) < 0.7 * count(Mood())
    sad = make_life(p, 600.0, seconds, LifeSettings(gaze=False, brows=False, head=False),
                    Mood(sad=1.0))
    neutral = make_life(p, 600.0, seconds, LifeSettings(gaze=False, brows=False, head=False))
    assert sad.channels["eyeBlinkLeft"].min() > 0.1  # lids hang lower
    assert (sad.blink > 0.5).mean() > (neutral.blink > 0.5).mean()


# --- gaze -------------------------------------------------------------------------------------

def test_gaze_stays_in_bounds_with_main_sequence_saccades():
    saccades = gaze.sample_gaze(600.0, np.random.default_rng(3), target=(5.0, -2.0))
    rate = 1000
    t = np.arange(0, 600, 1 / rate)
    angles = saccades.angles(t)
    limit = np.asarray(gaze.LIMIT_DEGREES) + 1.0  # fixational drift may pass the limit a little
    assert (np.abs(angles) <= limit).all()
    assert np.abs(np.median(angles, axis=0) - (5.0, -2.0)).max() < 1.5
    intervals = np.diff(saccades.start)
    assert 0.8 < intervals.mean() < 1.5 and intervals.min() > 0.1
    speed = np.hypot(*np.diff(angles, axis=0).T) * rate
    amplitude = np.hypot(*np.diff(saccades.fixation, axis=0).T)
    for s, a, d in list(zip(saccades.start, amplitude, saccades.duration))[:200]:
        inside = slice(int(s * rate) + 1, int((s + d) * rate))
        peak = speed[inside].max()
        if a > 2:
            # main sequence: 1.875 a / d, 100-650 deg/s for 2-30 degree saccades
            assert 80 < peak < 700
        # no overshoot: the eye moves monotonically towards the new fixation
        path = angles[inside] @ (saccades.fixation[1:] - saccades.fixation[:-1])[
            np.searchsorted(saccades.start, s)] / max(a, 1e-9)
        assert (np.diff(path) > -0.02).all()  # drift moves a few hundredths of a degree per ms
    assert speed.max() < 700  # the fastest human saccades


# --- head and brows ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def speech_prosody(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("speech")
    x = np.concatenate([np.concatenate([espeak(tmp, s), np.zeros(SAMPLE_RATE // 3, np.float32)])
                        for s in SENTENCES * 2])
    return x, prosody.analyse(x)


def test_head_nods_follow_f0_and_loudness_accents(speech_prosody):
    x, p = speech_prosody
    hop = int(SAMPLE_RATE * pitch.HOP_SECONDS)
    # an accent track from the raw signal: F0 and RMS level above their 1.5 s means
    f0, _ = pitch.yin(x, SAMPLE_RATE)
    level = 10 * np.log10(np.array([np.mean(x[i:i + 2 * hop] ** 2) + 1e-10
                                    for i in range(0, len(x), hop)]))[:len(f0)]
    mean = lambda v: np.convolve(v, np.ones(75) / 75, "same")  # noqa: E731
    st = 12 * np.log2(np.where(np.isfinite(f0), f0, np.nanmedian(f0)) / np.nanmedian(f0))
    accent = np.maximum(st - mean(st), 0) / 3 + np.maximum(level - mean(level), 0) / 6
    settings = LifeSettings(blinks=False, gaze=False, brows=False)
    times = np.arange(len(p.speech)) / prosody.RATE
    life = make_life(p, len(x) / SAMPLE_RATE, times, settings)
    nod = life.rotations[:, 1]
    lag = int(0.1 * prosody.RATE)  # the nod's low pass peaks about 0.1 s after the accent
    r = np.corrcoef(nod[lag:], accent[:len(nod) - lag])[0, 1]
    reversed_r = np.corrcoef(nod[lag:], accent[::-1][:len(nod) - lag])[0, 1]
    assert r > 0.3 and r > reversed_r + 0.2
    assert np.degrees(np.abs(life.rotations[:, :3])).max() < 15
    assert np.ptp(life.rotations[:, 0]) > np.radians(0.5)  # the drift turns the head too


def test_brows_rise_with_pitch_accents(speech_prosody):
    x, p = speech_prosody
    life = make_life(p, len(x) / SAMPLE_RATE, np.arange(len(p.speech)) / prosody.RATE,
                     LifeSettings(blinks=False, gaze=False, head=False))
    brow = life.channels["browInnerUp"]
    assert 0.1 < brow.max() <= 1.0
    assert np.corrcoef(brow, p.pitch_accent)[0, 1] > 0.5


def test_disabled_layers_add_nothing_and_seeds_are_reproducible(speech_prosody):
    x, p = speech_prosody
    times = np.arange(0, len(x) / SAMPLE_RATE, 1 / 30)
    duration = len(x) / SAMPLE_RATE
    off = make_life(p, duration, times, LifeSettings(blinks=False, gaze=False, brows=False,
                                                     head=False))
    assert off.channels == {} and not off.rotations.any()
    zero = make_life(p, duration, times, LifeSettings(head_strength=0.0, gaze=False))
    assert not zero.rotations.any()
    a, b = (make_life(p, duration, times, LifeSettings(seed=7)) for _ in range(2))
    assert np.array_equal(a.rotations, b.rotations)
    assert all(np.array_equal(a.channels[k], b.channels[k]) for k in a.channels)
    c = make_life(p, duration, times, LifeSettings(seed=8))
    assert not np.array_equal(a.rotations, c.rotations)
    # each layer has its own random stream: turning gaze off keeps the same blinks and head
    d = make_life(p, duration, times, LifeSettings(seed=7, gaze=False))
    assert np.array_equal(a.channels["eyeBlinkLeft"], d.channels["eyeBlinkLeft"])
    assert np.array_equal(a.rotations[:, :3], d.rotations[:, :3])


# --- joining the network's output -------------------------------------------------------------

def test_the_layer_never_touches_the_mouth_and_adds_where_the_network_is_silent(speech_prosody):
    x, p = speech_prosody
    rng = np.random.default_rng(0)
    net = rng.uniform(0, 0.6, (900, len(ARKIT_NAMES))).astype(np.float32)
    names = list(ARKIT_NAMES)
    net[:, [names.index(n) for n in names if n.startswith(("eyeBlink", "eyeLook"))]] = 0
    out, rotations = liven(x, net, names, 30.0, 0.0, LifeSettings(seed=1))
    for i, name in enumerate(names):
        if not name.startswith(("eye", "brow")):
            assert np.array_equal(out[:, i], net[:, i]), name
    assert out[:, names.index("eyeBlinkLeft")].max() > 0.9
    added = [i for i, n in enumerate(names) if n.startswith(("eyeBlink", "eyeLook", "brow"))
             and not n.startswith("browDown")]
    # 1 - (1 - a)(1 - b) rounds a by up to one float32 ulp at 1 when b = 0
    assert (out[:, added] >= net[:, added] - EPS32).all() and (out <= 1).all()
    blink = out[:, names.index("eyeBlinkLeft")] > 0.9
    wide = names.index("eyeWideLeft")
    assert (out[blink, wide] < net[blink, wide] * 0.2 + 1e-6).all()
    assert rotations.shape == (900, 9) and rotations[:, :5].any()


def test_brows_do_not_rise_against_a_frown():
    names = list(ARKIT_NAMES)
    net = np.zeros((10, len(names)), np.float32)
    net[:, names.index("browDownLeft")] = net[:, names.index("browDownRight")] = 1.0
    life = compose.Life({"browOuterUpLeft": np.full(10, 0.5, np.float32),
                         "browInnerUp": np.full(10, 0.5, np.float32)},
                        np.zeros((10, 9), np.float32), np.zeros((10, 2), np.float32))
    out = add_life(net, names, life)
    assert not out[:, names.index("browOuterUpLeft")].any()
    assert not out[:, names.index("browInnerUp")].any()


# --- regions ----------------------------------------------------------------------------------

def test_regions_scale_and_smooth_only_their_channels():
    names = list(ARKIT_NAMES)
    rng = np.random.default_rng(0)
    net = rng.uniform(0, 1, (300, len(names))).astype(np.float32)
    assert regions.shape_regions(net, names, 30.0, regions.RegionSettings()) is net
    lips = [names.index(n) for n in regions.LIPS]
    upper = [i for i, n in enumerate(names) if regions.region_of(n) == "upper"]
    lower = [i for i, n in enumerate(names) if regions.region_of(n) == "lower"]
    assert names.index("jawOpen") in lower and names.index("browInnerUp") in upper
    out = regions.shape_regions(net, names, 30.0, regions.RegionSettings(
        lips_strength=0.5, upper_smoothing_ms=100.0))
    np.testing.assert_array_equal(out[:, lips], 0.5 * net[:, lips])  # halving is exact
    assert np.array_equal(out[:, lower], net[:, lower])
    rough = lambda y: np.abs(np.diff(y, axis=0)).mean()  # noqa: E731
    assert rough(out[:, upper]) < 0.5 * rough(net[:, upper])
    # zero phase: smoothing keeps the level and does not delay (within the edge effects)
    assert abs(out[30:-30, upper].mean() - net[30:-30, upper].mean()) < 0.01


@pytest.mark.parametrize("samples", [1, 160, 16000])
def test_short_and_silent_clips(samples):
    """One sample, one hop and a second of digital silence: a still head, eyes that live."""
    x = np.zeros(samples, np.float32)
    n = max(1, int(np.ceil(samples / SAMPLE_RATE * 30)))
    net = np.zeros((n, len(ARKIT_NAMES)), np.float32)
    out, rotations = liven(x, net, list(ARKIT_NAMES), 30.0, 0.0, LifeSettings())
    assert out.shape == net.shape and np.isfinite(out).all() and np.isfinite(rotations).all()
    assert np.abs(rotations[:, :3]).max() < np.radians(5)  # a pause's drift, no nods


@pytest.mark.slow
def test_ten_minutes_of_speech_blink_like_people_and_at_pauses(tmp_path):
    """Ten minutes of espeak-ng sentences with pauses between them, through the whole layer."""
    rng = np.random.default_rng(0)
    pieces, total = [], 0
    for i in range(200):
        x = espeak(tmp_path, SENTENCES[i % 3], "-s", str(int(rng.integers(140, 200))),
                   "-p", str(int(rng.integers(30, 70))))
        gap = np.zeros(int(rng.uniform(0.0, 0.8) * SAMPLE_RATE), np.float32)
        pieces += [x, gap]
        total += len(x) + len(gap)
        if total > 600 * SAMPLE_RATE:
            break
    x = np.concatenate(pieces)[:600 * SAMPLE_RATE]
    p = prosody.analyse(x)
    times = np.arange(0, 600, 1 / 30)
    life = make_life(p, 600.0, times, LifeSettings(gaze=False, brows=False, head=False, seed=4))
    closed = life.blink[:, 0] > 0.5
    starts = times[1:][closed[1:] & ~closed[:-1]]
    assert 10 <= len(starts) / 10 <= 25
    boundaries = p.pause_onsets / prosody.RATE
    after = np.searchsorted(boundaries, starts, side="right") - 1
    near = (after >= 0) & (starts - boundaries[np.maximum(after, 0)] < 0.7)
    chance = np.minimum(np.diff(np.concatenate([boundaries, [600.0]])), 0.7).sum() / 600
    assert near.mean() > 1.5 * chance
    # lids shut about 0.1-0.3 s a blink: closure (> 0.5) lasts 3-9 frames at 30 fps
    edges = np.flatnonzero(np.diff(closed.astype(np.int8)))
    runs = np.diff(edges)[::2] if closed[0] == 0 else np.diff(edges)[1::2]
    assert 2 <= np.median(runs) <= 9


def test_a_later_start_shows_the_same_motion_from_there(speech_prosody):
    """The processes live on the audio's own timeline: --start-seconds crops, never reshuffles."""
    x, _ = speech_prosody
    names = list(ARKIT_NAMES)
    net = np.zeros((300, len(names)), np.float32)
    whole, turns = liven(x, net, names, 30.0, 0.0, LifeSettings(seed=2))
    later, later_turns = liven(x, net[:240], names, 30.0, 2.0, LifeSettings(seed=2))
    # frame 60 + i and frame i of the later start are at the same time (to a float64 ulp,
    # (60 + i) / 30 against 2 + i / 30): the same values, to a float32 ulp
    np.testing.assert_allclose(later, whole[60:], atol=EPS32)
    np.testing.assert_allclose(later_turns, turns[60:], atol=EPS32)


def test_a_streamed_file_and_its_samples_give_the_same_prosody(tmp_path, speech_wav):
    """a2f infer streams the file at 4 kHz, Blender hands over 16 kHz samples: at 16 kHz the
    two are the same samples (soxr's stream equals its one-shot call), at 22.05 kHz they differ
    by resampling alone."""
    import soundfile

    from a2f_core.audio import AudioFile
    x = load_audio(speech_wav)
    soundfile.write(tmp_path / "16k.wav", x, SAMPLE_RATE, subtype="FLOAT")
    for path, exact in ((tmp_path / "16k.wav", True), (speech_wav, False)):
        streamed, whole = prosody.analyse(AudioFile(path)), prosody.analyse(load_audio(path))
        assert np.array_equal(streamed.speech, whole.speech)
        assert np.array_equal(np.isnan(streamed.f0_hz), np.isnan(whole.f0_hz))
        if exact:
            np.testing.assert_array_equal(streamed.f0_hz, whole.f0_hz)
        else:  # two resampling paths of a 22.05 kHz file: under 0.1% of F0, but for a frame
            # at a voicing edge whose two dips lie on either side of YIN's threshold
            voiced = np.isfinite(whole.f0_hz)
            close = np.abs(streamed.f0_hz[voiced] / whole.f0_hz[voiced] - 1) < 1e-3
            assert close.mean() > 0.97
