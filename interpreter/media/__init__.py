"""The media path: ports to transports, frames, the media clock, barge-in."""
