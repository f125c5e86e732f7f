"""Verb implementations that talk to the outside: media (the caller's channel)
and network (legs, HTTP, SMS, the ai verb). Control flow lives in the executor."""
