"""What `ventros run` tells the person at the terminal once everything is up."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol


class Login(Protocol):
    @property
    def role(self) -> str: ...
    @property
    def email(self) -> str: ...
    @property
    def password(self) -> str: ...


@dataclass(frozen=True)
class Banner:
    home: Path
    embedded_database: bool
    logins: Sequence[Login] = ()
    simulator_url: str | None = None

    def lines(self, api_url: str) -> list[str]:
        rule = "-" * 72
        lines = [
            rule,
            f"Ventros is up: {api_url}",
            f"  Web app     {api_url}/app",
            f"  API         {api_url}/api/v1   (try {api_url}/docs; guide: docs/api.md)",
        ]
        width = max((len(str(login.role)) for login in self.logins), default=0)
        for index, login in enumerate(self.logins):
            label = "Logins" if index == 0 else ""
            lines.append(f"  {label:<10}  {login.role!s:<{width}}  {login.email}  {login.password}")
        if self.simulator_url:
            lines.append(
                f"  WhatsApp    simulator {self.simulator_url}; a customer writes in: "
                f'.venv/bin/ventros waha-sim say --sim-url {self.simulator_url} "Olá!"'
            )
        lines.append(f"  Data        {self._where_data_lives()}")
        lines.append("  Stop        Ctrl-C (stops everything this command started)")
        lines.append(rule)
        return lines

    def _where_data_lives(self) -> str:
        home = self.home.resolve()
        if self.embedded_database:
            return f"{home} (embedded PostgreSQL and Temporal; kept between starts)"
        return f"the PostgreSQL of VENTROS_DATABASE_URL; secret key under {home}"
