"""How an ai session takes its turns, as the document set it and as tools
have tuned it since (SWAIG reply actions): the language and voice hints,
model settings, how the caller is listened to and when they interrupt,
waiting for the caller, hold, background audio and tool chaining."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from interpreter import ir
from interpreter.media.ports import ListenSettings


@dataclass
class TurnPolicy:
    language: ir.Language | None = None  # the language spoken now (languages[0] first)
    hints: list[ir.Hint] = field(default_factory=list)  # the document's + dynamic ones
    llm_settings: dict[str, float] = field(default_factory=dict)  # the `settings` action
    listening: ListenSettings = field(default_factory=ListenSettings)
    prompt_override: tuple[str, bool] | None = None  # context_switch: (prompt, full_reset)
    wait_for_user: bool = False  # the next reply waits for the caller's words
    wait_for_user_until: float | None = None  # ...or until this time
    after_noise: bool = False  # that wait follows a barge-in on noise
    hold_seconds: float | None = None  # put the caller on hold when the turn ends
    background: int | None = None  # playout id of background audio playing
    background_wait: bool = False  # the next reply waits for the background to end
    tool_round_limit: int | None = None  # back_to_back_functions for this turn
    chain_forever: bool = False  # back_to_back_functions: "forever"
    functions_on_speaker_timeout: bool = True

    @classmethod
    def of(cls, verb: ir.Ai) -> TurnPolicy:
        return cls(language=verb.languages[0] if verb.languages else None,
                   hints=list(verb.hints),
                   listening=replace(verb.params.listen, barge=verb.params.barge))

    @property
    def barge(self) -> ir.BargePolicy:
        return self.listening.barge or ir.BargePolicy()

    @property
    def language_code(self) -> str:
        return self.language.code if self.language is not None else "en-US"
