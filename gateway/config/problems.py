"""Configuration problems, collected so every one of them is reported at once."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal


@dataclass(frozen=True, slots=True)
class Problem:
    level: Literal["error", "warning"]
    field: str  # where in the config, e.g. "model_list[2].litellm_params.weight"
    message: str

    def __str__(self) -> str:
        return f"{self.level}: {self.field}: {self.message}"


@dataclass
class Problems:
    items: list[Problem] = field(default_factory=list)

    def error(self, where: str, message: str) -> None:
        self.items.append(Problem("error", where, message))

    def warning(self, where: str, message: str) -> None:
        self.items.append(Problem("warning", where, message))

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.items if p.level == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.items if p.level == "warning"]

    def __iter__(self):
        return iter(self.items)
