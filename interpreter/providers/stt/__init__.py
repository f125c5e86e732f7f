"""Speech-to-text providers: the streaming protocol (`base`) and the embedded
pocketsphinx engine with a per-flow language model (`pocketsphinx`)."""
