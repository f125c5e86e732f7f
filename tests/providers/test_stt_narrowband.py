"""Telephony audio through the embedded recognizer: the spoken fixtures
through G.711 μ-law at 8 kHz and back to 16 kHz, as a phone call's audio
reaches it (the listener's resampler both ways), decoded as narrowband
(`source_rate=8000`) and, for comparison, as if it were wideband.

Measured (bench/bench_stt.py): 6 of 7 exact as narrowband, 4 of 7 as
wideband; 16 kHz audio is not affected (7 of 7).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from interpreter.media import codecs
from interpreter.media.ports import ListenSettings
from interpreter.media.resample import Resampler
from interpreter.providers.stt.pocketsphinx import PocketsphinxProvider
from interpreter.providers.stt.vocabulary import normalize
from tests.providers.test_pocketsphinx import (
    FRAME,
    PHRASES,
    SPOKEN,
    flow_hinting,
    load,
    padded,
    word_errors,
)

Audio = npt.NDArray[np.int16]


def resampled(samples: Audio, rate_in: int, rate_out: int) -> Audio:
    """All of `samples` through the media path's resampler."""
    resampler = Resampler(rate_in, rate_out)
    return np.concatenate([resampler.push(samples).reshape(-1),
                           resampler.flush().reshape(-1)]).astype(np.int16)


def telephone(samples: Audio) -> Audio:
    """16 kHz audio as it arrives from a phone: 8 kHz, G.711 μ-law, back to 16 kHz."""
    narrow = resampled(samples, 16_000, 8_000)
    return resampled(codecs.mulaw_decode(codecs.mulaw_encode(narrow)), 8_000, 16_000)


def transcript(stt: PocketsphinxProvider, samples: Audio, source_rate: int) -> tuple[str, float]:
    session = stt.session(ListenSettings(), source_rate=source_rate)
    for start in range(0, len(samples), FRAME):
        session.feed(samples[start:start + FRAME])
    final = session.finish()
    session.close()
    return final.text, final.confidence


@pytest.fixture(scope="module")
def provider() -> PocketsphinxProvider:
    return PocketsphinxProvider.for_flow(flow_hinting(sorted(PHRASES.values())))


@pytest.fixture(scope="module")
def phoned() -> dict[str, Audio]:
    return {name: padded(telephone(load(name))) for name in SPOKEN}


def test_telephony_audio_is_recognised_better_as_narrowband(
        provider: PocketsphinxProvider, phoned: dict[str, Audio]) -> None:
    exact = {rate: sum(transcript(provider, audio, rate)[0] == normalize(PHRASES[name])
                       for name, audio in phoned.items())
             for rate in (8_000, 16_000)}
    assert exact[8_000] >= 6, exact  # a floor that may only rise
    assert exact[8_000] > exact[16_000], exact


def test_narrowband_makes_fewer_word_errors(
        provider: PocketsphinxProvider, phoned: dict[str, Audio]) -> None:
    """Measured: 2 word errors in 25 words ("transfer me" as "twenty
    thirty"), against 5 decoded as wideband."""
    errors = {rate: sum(word_errors(normalize(PHRASES[name]), transcript(provider, audio, rate)[0])
                        for name, audio in phoned.items())
              for rate in (8_000, 16_000)}
    assert errors[8_000] <= 2 < errors[16_000], errors


def test_wideband_audio_is_unchanged_by_the_narrowband_path(
        provider: PocketsphinxProvider) -> None:
    """16 kHz sessions keep their own decoders and conditioning."""
    for name in SPOKEN:
        assert transcript(provider, padded(load(name)), 16_000)[0] == normalize(PHRASES[name])


def test_narrowband_sessions_have_their_own_decoders() -> None:
    provider = PocketsphinxProvider.for_flow(flow_hinting(["transfer me to sales"]),
                                             pool_size=2)
    provider.warm(1)
    assert provider.idle == 1
    session = provider.session(ListenSettings(), source_rate=8_000)
    assert provider.idle == 1  # the wideband pool was not drawn from
    session.close()
    hinted = provider.session(ListenSettings(hints=("opening hours",)), source_rate=8_000)
    hinted.close()
    assert provider.idle == 1
