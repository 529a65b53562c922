"""Speech synthesis for `session.audio.speak()`: pluggable synthesisers behind `/api/tts`
(espeak-ng by default, offline). See `tts.provider` for the interface, `tts.registry` for
how plugins add one."""
