"""The loopback provider the media-stream tests use: it lives in the package
(interpreter/transports/media_stream/provider_peer.py) since `callkernel demo
--phone` plays a provider with it too."""

from interpreter.transports.media_stream.provider_peer import (
    FRAME_S,
    PeerScript,
    Played,
    ProviderPeer,
)

__all__ = ["FRAME_S", "PeerScript", "Played", "ProviderPeer"]
