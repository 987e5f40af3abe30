"""``meshlake login``, ``meshlake logout`` and ``meshlake whoami``: server profiles.

``login`` checks the token against the server, then saves the URL and token as a profile
(mode 0600, in the user's configuration folder); later commands use it with ``--profile``,
``$MESHLAKE_PROFILE``, or by default when no ``--home`` is given. The token is never printed.
"""

from typing import Annotated

import typer

from meshlake.cli.output import bold, examples
from meshlake.cli.profiles import (
    DEFAULT_PROFILE,
    ENV_PROFILE,
    Profile,
    check_url,
    load_profiles,
    remove_profile,
    save_profile,
)
from meshlake.cli.state import get_state
from meshlake.errors import NotFoundError

__all__ = ["register"]

ProfileOpt = Annotated[
    str | None,
    typer.Option(
        "--profile",
        "-p",
        metavar="NAME",
        help=f"The profile's name (default: ${ENV_PROFILE}, or {DEFAULT_PROFILE}).",
    ),
]


def _name(ctx: typer.Context, profile: str | None) -> str:
    """The profile a command names: its --profile, the global one ($MESHLAKE_PROFILE), or
    ``default``."""
    return profile or get_state(ctx).profile or DEFAULT_PROFILE


def login(
    ctx: typer.Context,
    url: Annotated[
        str, typer.Option("--url", metavar="URL", help="The server, as http://HOST:PORT.")
    ],
    token: Annotated[
        str,
        typer.Option(
            "--token",
            metavar="TOKEN",
            prompt=True,
            hide_input=True,
            help="A bearer token (`meshlake token create`); asked for, unechoed, when left out.",
        ),
    ],
    profile: ProfileOpt = None,
) -> None:
    """Check a server token and save it as a profile (readable by you only)."""
    state = get_state(ctx)
    name = _name(ctx, profile)
    url = check_url(url)
    from meshlake.client import connect  # httpx and the SDK: only when logging in

    with connect(url, token=token.strip()) as remote:
        principal = remote.principal  # AuthenticationError for a bad token
    saved = Profile(name, url, token.strip(), principal)
    path = save_profile(saved)
    state.out.emit(
        {**saved.to_public(), "file": str(path)},
        f"logged in to {bold(url)} as {bold(principal)} (profile {bold(name)}, saved in "
        f"{bold(path)})",
    )
    if name != DEFAULT_PROFILE:
        state.out.note(f"use it with --profile {name} or {ENV_PROFILE}={name}")


def logout(ctx: typer.Context, profile: ProfileOpt = None) -> None:
    """Forget a saved profile and its token.

    The token stays valid on the server: revoke it there with `meshlake token revoke ID`.
    """
    state = get_state(ctx)
    name = _name(ctx, profile)
    if not remove_profile(name):
        saved = sorted(load_profiles())
        raise NotFoundError(
            f"no profile {name}"
            + (f": saved profiles are {', '.join(saved)}" if saved else ": none are saved")
        )
    state.out.emit({"profile": name, "removed": True}, f"forgot profile {bold(name)}")


def whoami(ctx: typer.Context) -> None:
    """Show where commands go (a mesh home or a server) and as whom; never the token."""
    state = get_state(ctx)
    conn = state.connection()
    if conn.remote:
        session = state.session()
        data = {"mode": "server", "url": conn.url, "profile": conn.profile}
        data["principal"] = session.principal
    else:
        data = {
            "mode": "embedded",
            "home": str(state.settings().home),
            "principal": state.principal,
        }
    state.out.emit(data, lambda: state.out.fields(data))


def profiles(ctx: typer.Context) -> None:
    """List the saved profiles (URL and principal; never the token)."""
    state = get_state(ctx)
    state.out.records(
        [p.to_public() for p in load_profiles().values()],
        ["profile", "url", "principal"],
        title="Profiles",
        empty="no profiles: save one with `meshlake login --url URL`",
    )


def register(app: typer.Typer) -> None:
    """Add ``login``, ``logout``, ``whoami`` and ``profiles`` to the root app."""
    panel = "Server"
    app.command(
        "login",
        rich_help_panel=panel,
        epilog=examples(
            "meshlake login --url http://127.0.0.1:8470",
            'meshlake login --url https://mesh.example.com --profile prod --token "$TOKEN"',
        ),
    )(login)
    app.command("logout", rich_help_panel=panel)(logout)
    app.command("whoami", rich_help_panel=panel)(whoami)
    app.command("profiles", rich_help_panel=panel)(profiles)
