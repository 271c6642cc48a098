"""The `consciousness` command: serve, migrate, create-user, export-schema."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from collections.abc import Sequence

from server.settings import ConfigurationError, Settings, load_settings


def _serve(settings: Settings, args: argparse.Namespace) -> None:
    import uvicorn

    from server.startup import check_workers, prepare_stores

    check_workers(settings, args.workers)
    asyncio.run(prepare_stores(settings))
    uvicorn.run(
        "server.app:app_from_environment",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        reload=args.reload,
        log_level=settings.log_level.value.lower(),
        ws_max_size=1024 * 1024,
    )


def _migrate(settings: Settings, _args: argparse.Namespace) -> None:
    from server.startup import prepare_stores

    asyncio.run(prepare_stores(settings))
    print("database schema is up to date")


def _read_password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\n")
    password = getpass.getpass("Password: ")
    if getpass.getpass("Repeat password: ") != password:
        raise ConfigurationError("error: the passwords do not match")
    return password


def _create_user(settings: Settings, args: argparse.Namespace) -> None:
    from auth.passwords import PasswordPolicyError, check_policy, hash_password
    from db.models import Role, Tier
    from db.repositories.users import create_user
    from db.session import Database
    from schema.errors import ApiError
    from server.startup import prepare_stores

    try:
        role, tier = Role(args.role), Tier(args.tier)
    except ValueError as exc:
        raise ConfigurationError(f"error: {exc}") from None
    password = _read_password(args)
    try:
        check_policy(password, username=args.username)
    except PasswordPolicyError as exc:
        raise ConfigurationError(f"error: {exc}") from None

    async def run() -> None:
        await prepare_stores(settings)
        database = Database(settings.resolved_database_url)
        try:
            async with database.session() as session:
                user = await create_user(
                    session,
                    username=args.username,
                    email=args.email,
                    password_hash=hash_password(password),
                    roles=[role],
                    tier=tier,
                )
            print(f"created user {user.username} ({user.id}) with role {role.value}")
        except ApiError as exc:
            raise ConfigurationError(f"error: {exc.message}") from None
        finally:
            await database.close()

    asyncio.run(run())


def _export_schema(_settings: Settings, _args: argparse.Namespace) -> None:
    from schema.schema import export_sdl

    sys.stdout.write(export_sdl())


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="consciousness", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the HTTP and websocket server")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1)
    serve.add_argument("--reload", action="store_true", help="restart on code changes (dev)")
    serve.set_defaults(handler=_serve)

    migrate = commands.add_parser("migrate", help="apply database migrations")
    migrate.set_defaults(handler=_migrate)

    create = commands.add_parser("create-user", help="create a user (prompts for the password)")
    create.add_argument("--username", required=True)
    create.add_argument("--email", required=True)
    create.add_argument(
        "--role", default="user", help="user, developer, researcher, admin, super_admin"
    )
    create.add_argument("--tier", default="basic", help="basic, advanced, enterprise, research")
    create.add_argument(
        "--password-stdin", action="store_true", help="read the password from stdin"
    )
    create.set_defaults(handler=_create_user)

    export = commands.add_parser("export-schema", help="print the GraphQL SDL")
    export.set_defaults(handler=_export_schema)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings()
        from server.observability import configure_logging

        configure_logging(settings.log_level.value)
        args.handler(settings, args)
    except ConfigurationError as exc:
        print(exc, file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
