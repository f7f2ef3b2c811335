"""Deterministic synthesis of paralinguistic event sounds for which no permissive recording exists.

No permissively licensed recordings of laughs, sighs, gasps, throat clearing or tongue clicks could be
found, so emotionlayer makes them itself with small source-filter models of the human voice: a glottal
pulse train (the voiced source), shaped noise (breath turbulence), and vocal-tract resonances
(formants). Every sound is drawn from a seeded random generator, so the packaged bank is reproducible:
``python -m emotionlayer.paralinguistics.synthesis OUT_DIR`` writes exactly the files shipped in
``emotionlayer/assets/events/<label>/``.

Recipes (see :data:`RECIPES`):

* ``laugh`` - a train of 3-7 voiced "ha" syllables at 4-6 per second. Each syllable is an aspirated
  onset (noise through the vowel's formants) followed by a glottal pulse train through /a/ formants;
  pitch falls within each syllable and across the laugh; loudness decays from syllable to syllable.
* ``sigh`` - an optional short inhalation, then a long (0.8-1.5 s) breathy exhalation: noise through
  vowel formants with a weak voiced component whose pitch falls by about half an octave; fast attack,
  slow decay.
* ``gasp`` - a short (0.2-0.45 s) sharp inhaled noise burst whose band-pass centre rises (about
  700 Hz -> 2.5 kHz), with a fast attack and an abrupt stop (the glottis closing), sometimes a faint
  voiced onset.
* ``throat_clearing`` - one or two "hrrm" gestures: low, irregular glottal pulses (vocal fry, 55-95 Hz,
  strong jitter and shimmer) through a schwa's formants, mixed with turbulent noise in 300-2500 Hz.
* ``tsk`` - one to three tongue clicks: a broadband impulse exciting a short palatal resonance
  (2.5-4.5 kHz, fast decay), each followed by a tiny release noise, clicks 120-220 ms apart.

Voiced recipes take a base pitch ``f0`` so the event can match the voice it is inserted into.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np

__all__ = ["RECIPES", "SYNTH_LABELS", "DEFAULT_F0", "synthesize_event", "write_bank"]

DEFAULT_F0 = 120.0  # Hz; a typical adult voice between male and female ranges

# Vowel formants (Hz) and bandwidths (Hz) of an adult voice.
_VOWEL_A = ((750.0, 90.0), (1250.0, 110.0), (2550.0, 160.0), (3500.0, 250.0))
_VOWEL_SCHWA = ((520.0, 90.0), (1450.0, 120.0), (2500.0, 170.0), (3500.0, 250.0))
_VOWEL_H = ((650.0, 200.0), (1400.0, 250.0), (2600.0, 300.0), (3600.0, 350.0))


def _resonator(x: np.ndarray, freq: float, bandwidth: float, sr: int) -> np.ndarray:
    """Second-order all-pole resonator (one formant), unity gain at DC-free peak."""
    from scipy.signal import lfilter

    r = np.exp(-np.pi * bandwidth / sr)
    theta = 2.0 * np.pi * min(freq, 0.45 * sr) / sr
    a = [1.0, -2.0 * r * np.cos(theta), r * r]
    b = [1.0 - r]
    return lfilter(b, a, x)


def _formants(x: np.ndarray, formants: tuple[tuple[float, float], ...], sr: int, scale: float = 1.0) -> np.ndarray:
    """Parallel formant filter bank: sum of resonators, higher formants a little weaker."""
    out = np.zeros_like(x)
    for i, (freq, bw) in enumerate(formants):
        out += _resonator(x, freq * scale, bw, sr) * (0.8**i)
    return out


def _glottal_source(f0: np.ndarray, sr: int, rng: np.random.Generator, jitter: float, shimmer: float) -> np.ndarray:
    """Glottal flow derivative (Rosenberg pulses) following a per-sample pitch track ``f0`` (Hz).

    ``jitter`` and ``shimmer`` are relative per-period perturbations of period and amplitude.
    """
    n = len(f0)
    out = np.zeros(n)
    t = 0
    while t < n:
        period = int(sr / max(float(f0[t]), 20.0) * (1.0 + jitter * rng.standard_normal()))
        period = max(period, 8)
        amp = max(0.1, 1.0 + shimmer * rng.standard_normal())
        rise = int(0.4 * period)
        fall = max(int(0.16 * period), 2)
        pulse = np.zeros(period)
        pulse[:rise] = 0.5 * (1.0 - np.cos(np.pi * np.arange(rise) / max(rise, 1)))
        pulse[rise : rise + fall] = np.cos(0.5 * np.pi * np.arange(fall) / fall)
        end = min(n, t + period)
        out[t:end] += amp * pulse[: end - t]
        t += period
    return np.diff(out, prepend=0.0)  # lip radiation: differentiate the flow


def _envelope(n: int, sr: int, attack: float, release: float, shape: float = 1.0) -> np.ndarray:
    """Attack-sustain-release envelope with raised-cosine edges (seconds)."""
    env = np.ones(n)
    a = min(int(attack * sr), n // 2)
    r = min(int(release * sr), n - a)
    if a > 0:
        env[:a] = 0.5 * (1.0 - np.cos(np.pi * np.arange(a) / a))
    if r > 0:
        env[n - r :] *= (0.5 * (1.0 + np.cos(np.pi * np.arange(r) / r))) ** shape
    return env


def _shaped_noise(n: int, sr: int, rng: np.random.Generator, centre: np.ndarray, width: float) -> np.ndarray:
    """Noise whose band-pass centre follows ``centre`` (one value per STFT frame, Hz), made in the STFT domain."""
    from scipy.signal import istft, stft

    nperseg = 512
    noise = rng.standard_normal(n + nperseg)
    freqs, _, spec = stft(noise, fs=sr, nperseg=nperseg)
    frames = spec.shape[1]
    centres = np.interp(np.linspace(0, 1, frames), np.linspace(0, 1, len(centre)), centre)
    gain = np.exp(-0.5 * ((freqs[:, None] - centres[None, :]) / width) ** 2)
    _, shaped = istft(spec * gain, fs=sr, nperseg=nperseg)
    return shaped[:n]


def _normalise(x: np.ndarray, peak_db: float = -3.0) -> np.ndarray:
    x = x - np.mean(x)
    peak = float(np.max(np.abs(x))) or 1.0
    return (x / peak * 10 ** (peak_db / 20.0)).astype(np.float32)


def _pad(x: np.ndarray, sr: int, seconds: float = 0.02) -> np.ndarray:
    pad = np.zeros(int(seconds * sr))
    return np.concatenate([pad, x, pad])


def synth_laugh(rng: np.random.Generator, sr: int, f0: float = DEFAULT_F0) -> np.ndarray:
    """A "ha-ha-ha" laugh: aspirated, voiced syllables with falling pitch and decaying loudness."""
    syllables = int(rng.integers(3, 8))
    rate = rng.uniform(4.0, 6.0)  # syllables per second
    base = f0 * rng.uniform(1.6, 2.2)  # laughter is pitched well above speech (often twice as high)
    vowel_scale = rng.uniform(0.92, 1.1)
    pieces = []
    for i in range(syllables):
        syl_len = int(sr / rate * rng.uniform(0.9, 1.1))
        h_len = int(syl_len * rng.uniform(0.25, 0.35))
        v_len = int(syl_len * rng.uniform(0.45, 0.55))
        gap = max(syl_len - h_len - v_len, 1)
        level = 0.82**i * rng.uniform(0.85, 1.0)
        aspiration = _formants(rng.standard_normal(h_len), _VOWEL_H, sr, vowel_scale)
        aspiration *= _envelope(h_len, sr, 0.01, 0.005) * 0.35
        start_f0 = base * (0.96**i) * rng.uniform(0.97, 1.03)
        track = np.linspace(start_f0, start_f0 * rng.uniform(0.85, 0.93), v_len)
        voiced = _glottal_source(track, sr, rng, jitter=0.02, shimmer=0.08)
        voiced = _formants(voiced, _VOWEL_A, sr, vowel_scale)
        breath = _formants(rng.standard_normal(v_len), _VOWEL_A, sr, vowel_scale)
        voiced = voiced / (np.std(voiced) + 1e-9) + 0.25 * breath / (np.std(breath) + 1e-9)
        voiced *= _envelope(v_len, sr, 0.012, 0.04)
        syllable = np.concatenate([aspiration / (np.std(aspiration) + 1e-9) * 0.35, voiced, np.zeros(gap)])
        pieces.append(syllable * level)
    return _normalise(_pad(np.concatenate(pieces), sr))


def synth_sigh(rng: np.random.Generator, sr: int, f0: float = DEFAULT_F0) -> np.ndarray:
    """A sigh: short inhale, then a long breathy exhalation with falling, weak voicing."""
    parts = []
    if rng.random() < 0.6:
        n_in = int(sr * rng.uniform(0.25, 0.45))
        inhale = _shaped_noise(n_in, sr, rng, np.linspace(1200, 2200, 8), 700.0)
        parts.append(inhale / (np.std(inhale) + 1e-9) * 0.12 * _envelope(n_in, sr, 0.1, 0.08))
        parts.append(np.zeros(int(sr * rng.uniform(0.05, 0.15))))
    n = int(sr * rng.uniform(0.8, 1.5))
    scale = rng.uniform(0.9, 1.1)
    formants = _VOWEL_A if rng.random() < 0.5 else _VOWEL_SCHWA
    noise = _formants(rng.standard_normal(n), formants, sr, scale)
    noise /= np.std(noise) + 1e-9
    track = np.geomspace(f0 * rng.uniform(1.1, 1.3), f0 * rng.uniform(0.65, 0.8), n)
    voiced = _formants(_glottal_source(track, sr, rng, jitter=0.03, shimmer=0.1), formants, sr, scale)
    voiced /= np.std(voiced) + 1e-9
    voicing = rng.uniform(0.6, 0.8) * np.linspace(1.0, 0.35, n)  # voicing fades into breath
    exhale = (noise * (1.0 - 0.7 * voicing) + voiced * voicing) * _envelope(n, sr, 0.12, 0.6 * n / sr, shape=1.5)
    parts.append(exhale)
    return _normalise(_pad(np.concatenate(parts), sr))


def synth_gasp(rng: np.random.Generator, sr: int, f0: float = DEFAULT_F0) -> np.ndarray:
    """A gasp: sharp inhaled noise burst with a rising band-pass and an abrupt glottal stop."""
    n = int(sr * rng.uniform(0.2, 0.45))
    start, stop = rng.uniform(600, 900), rng.uniform(2000, 3000)
    noise = _shaped_noise(n, sr, rng, np.geomspace(start, stop, 16), rng.uniform(500, 800))
    noise += 0.3 * _formants(rng.standard_normal(n), _VOWEL_H, sr) / 30.0
    noise /= np.std(noise) + 1e-9
    env = _envelope(n, sr, rng.uniform(0.008, 0.02), 0.012) * np.linspace(0.7, 1.0, n)
    burst = noise * env
    if rng.random() < 0.5:  # a faint voiced "uh" at the onset
        v = int(0.06 * sr)
        voiced = _formants(_glottal_source(np.full(v, f0 * 1.4), sr, rng, 0.02, 0.05), _VOWEL_SCHWA, sr)
        burst[:v] += 0.35 * voiced / (np.std(voiced) + 1e-9) * _envelope(v, sr, 0.01, 0.03)
    closure = np.zeros(int(0.004 * sr))
    closure[0] = 1.0
    closure = _resonator(closure, 400.0, 200.0, sr) * 4.0
    return _normalise(_pad(np.concatenate([burst, closure]), sr))


def synth_throat_clearing(rng: np.random.Generator, sr: int, f0: float = DEFAULT_F0) -> np.ndarray:
    """Throat clearing ("ahem", "hrrm"): low, rough, irregular pulses plus turbulent noise."""
    gestures = 1 if rng.random() < 0.5 else 2
    parts = []
    for g in range(gestures):
        n = int(sr * rng.uniform(0.25, 0.45))
        fry = min(f0 * rng.uniform(0.5, 0.75), 95.0)
        track = fry * (1.0 + 0.15 * np.sin(2 * np.pi * rng.uniform(8, 14) * np.arange(n) / sr))
        pulses = _glottal_source(track, sr, rng, jitter=0.12, shimmer=0.35)
        voiced = _formants(pulses, _VOWEL_SCHWA, sr, rng.uniform(0.9, 1.05))
        voiced /= np.std(voiced) + 1e-9
        rasp = _shaped_noise(n, sr, rng, np.array([rng.uniform(900, 1400)] * 4), rng.uniform(500, 800))
        rasp /= np.std(rasp) + 1e-9
        am = 1.0 + 0.6 * np.sign(np.sin(2 * np.pi * track.cumsum() / sr))  # noise gated by the pulses: roughness
        mix = voiced + rng.uniform(0.4, 0.7) * rasp * am
        level = 1.0 if g == gestures - 1 else rng.uniform(0.5, 0.8)
        parts.append(mix * _envelope(n, sr, rng.uniform(0.03, 0.08), 0.03) * level)
        if g < gestures - 1:
            parts.append(np.zeros(int(sr * rng.uniform(0.06, 0.14))))
    return _normalise(_pad(np.concatenate(parts), sr))


def synth_tsk(rng: np.random.Generator, sr: int, f0: float = DEFAULT_F0) -> np.ndarray:
    """A "tsk"/"tut": one to three short tongue clicks (an impulse through a palatal resonance)."""
    clicks = int(rng.choice([1, 2, 2, 3]))
    parts = []
    for i in range(clicks):
        n = int(sr * rng.uniform(0.025, 0.04))
        impulse = np.zeros(n)
        impulse[0] = 1.0
        impulse[1:4] = -0.5 * rng.random(3)
        ring = _resonator(impulse, rng.uniform(2500, 4500), rng.uniform(300, 600), sr)
        ring += 0.5 * _resonator(impulse, rng.uniform(1200, 1800), 400.0, sr)
        release = rng.standard_normal(n) * np.exp(-np.arange(n) / (0.004 * sr)) * 0.02
        click = (ring / (np.max(np.abs(ring)) + 1e-9) + release) * np.exp(-np.arange(n) / (0.008 * sr))
        parts.append(click * (1.0 if i == 0 else rng.uniform(0.6, 0.9)))
        if i < clicks - 1:
            parts.append(np.zeros(int(sr * rng.uniform(0.12, 0.22))))
    return _normalise(_pad(np.concatenate(parts), sr, 0.01))


#: Label -> generator ``(rng, sample_rate, f0) -> float32 samples``.
RECIPES: dict[str, Callable[..., np.ndarray]] = {
    "laugh": synth_laugh,
    "sigh": synth_sigh,
    "gasp": synth_gasp,
    "throat_clearing": synth_throat_clearing,
    "tsk": synth_tsk,
}

#: Labels the package synthesises (breath and cough are real recordings).
SYNTH_LABELS: tuple[str, ...] = tuple(RECIPES)

#: Labels whose recipe is voiced, so pitch-matching to the surrounding voice makes sense.
VOICED_LABELS: frozenset[str] = frozenset({"laugh", "sigh", "throat_clearing"})

_LABEL_SEED = {label: i * 1000 for i, label in enumerate(SYNTH_LABELS)}


def synthesize_event(label: str, seed: int = 0, sample_rate: int = 16000, f0: float = DEFAULT_F0) -> np.ndarray:
    """Make one variant of a paralinguistic sound.

    Args:
        label: One of :data:`SYNTH_LABELS` (``laugh``, ``sigh``, ``gasp``, ``throat_clearing``, ``tsk``).
        seed: Variant number; the same ``(label, seed, sample_rate, f0)`` always gives the same samples.
        sample_rate: Output rate in Hz.
        f0: Base pitch of the voice to match, in Hz (voiced recipes only).

    Returns:
        Mono float32 samples peaking at -3 dBFS.
    """
    from ..errors import ConfigError

    if label not in RECIPES:
        raise ConfigError(f"No synthesis recipe for {label!r}. Recipes exist for: {', '.join(SYNTH_LABELS)}.")
    rng = np.random.default_rng(_LABEL_SEED[label] + int(seed))
    return RECIPES[label](rng, int(sample_rate), float(f0))


def write_bank(
    out_dir: str | Path, variants: int = 8, sample_rate: int = 16000, labels: tuple[str, ...] = SYNTH_LABELS
) -> list[Path]:
    """Write ``variants`` synthesised clips per label as 16 kHz FLAC into ``out_dir/<label>/``.

    Pitch varies across variants (90-220 Hz, male to female range). A ``synth.json`` beside the clips
    records each clip's seed and pitch, so the files can be regenerated and pitch-matched later.

    Returns:
        The written clip paths.
    """
    import soundfile as sf

    written: list[Path] = []
    pitches = np.geomspace(90.0, 220.0, variants) if variants > 1 else np.array([DEFAULT_F0])
    for label in labels:
        folder = Path(out_dir) / label
        folder.mkdir(parents=True, exist_ok=True)
        meta = {}
        for seed in range(variants):
            f0 = round(float(pitches[seed]), 1)
            samples = synthesize_event(label, seed=seed, sample_rate=sample_rate, f0=f0)
            path = folder / f"synth_{label}_{seed:02d}.flac"
            sf.write(str(path), samples, sample_rate, subtype="PCM_16", format="FLAC")
            meta[path.name] = {"recipe": label, "seed": seed, "f0": f0, "sample_rate": sample_rate, "synthetic": True}
            written.append(path)
        (folder / "synth.json").write_text(json.dumps(meta, indent=1, sort_keys=True) + "\n")
    return written


def main(argv: list[str] | None = None) -> None:
    """Command line: regenerate the synthesised part of the event bank."""
    parser = argparse.ArgumentParser(description="Write the synthesised paralinguistic event clips.")
    parser.add_argument("out_dir", help="bank folder; clips go to OUT_DIR/<label>/")
    parser.add_argument("--variants", type=int, default=8, help="clips per label (default 8)")
    parser.add_argument("--sample-rate", type=int, default=16000)
    args = parser.parse_args(argv)
    paths = write_bank(args.out_dir, args.variants, args.sample_rate)
    print(f"wrote {len(paths)} clips to {args.out_dir}")


if __name__ == "__main__":
    main()
