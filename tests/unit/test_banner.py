"""`ventros run`'s banner: where everything is, every demo login, how to stop."""

from pathlib import Path

from ventros.identity.domain import Role
from ventros.identity.service import DemoLogin
from ventros.platform.banner import Banner

URL = "http://127.0.0.1:8000"


def test_the_banner_lists_urls_every_demo_login_data_and_how_to_stop(tmp_path: Path) -> None:
    logins = [
        DemoLogin(Role.ADMIN, "admin@demo.ventros.local", "ventros-demo"),
        DemoLogin(Role.SUPERVISOR, "supervisor@demo.ventros.local", "s3cret-demo"),
        DemoLogin(Role.AGENT, "agent1@demo.ventros.local", "a-demo"),
    ]
    text = "\n".join(
        Banner(
            home=tmp_path, embedded_database=True, logins=logins, simulator_url="http://sim:3000"
        ).lines(URL)
    )
    assert f"\nVentros is up: {URL}\n" in text
    assert f"{URL}/app" in text
    assert f"{URL}/docs" in text
    assert "admin       admin@demo.ventros.local  ventros-demo" in text
    assert "agent       agent1@demo.ventros.local  a-demo" in text
    assert "supervisor  supervisor@demo.ventros.local  s3cret-demo" in text
    assert "http://sim:3000" in text
    assert str(tmp_path.resolve()) in text
    assert "Ctrl-C" in text


def test_without_the_demo_or_the_simulator_the_banner_says_so_briefly(tmp_path: Path) -> None:
    lines = Banner(home=tmp_path, embedded_database=False).lines(URL)
    text = "\n".join(lines)
    assert "Logins" not in text
    assert "simulator" not in text
    assert "VENTROS_DATABASE_URL" in text
    assert len(lines) <= 8
