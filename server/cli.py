"""The `consciousness` command: serve, migrate, create-user, export-schema, export-openapi;
the data-maintenance commands (rotate-data-key, reindex) are in server/cli_data.py."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import sys
from collections.abc import Sequence
from enum import Enum
from typing import TypeVar

from core.settings import ConfigurationError, Settings, load_settings
from server.cli_data import reindex, rotate_data_key

E = TypeVar("E", bound=Enum)


def _serve(settings: Settings, args: argparse.Namespace) -> None:
    import uvicorn

    from server.startup import check_workers, check_writers, prepare_stores

    check_workers(settings, args.workers)
    check_writers(settings)
    asyncio.run(prepare_stores(settings))
    if settings.persisted_operations_file is not None:
        from db.allow_list import load_allow_list

        load_allow_list(settings.persisted_operations_file)  # a bad file: one line, exit 2
    if "SERVING_PROCESSES" not in os.environ:  # each worker reads it (server/engine_processes.py)
        os.environ["SERVING_PROCESSES"] = str(args.workers)
    url = _local_url(args.host, args.port)
    if args.demo:
        _start_demo(settings, url)
    else:
        from server.announce import announce_when_listening
        from server.landing import urls_block

        announce_when_listening(url, urls_block(url, settings))
    uvicorn.run(
        "server.app:app_from_environment",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        reload=args.reload,
        log_level=settings.log_level.value.lower(),
        ws_max_size=settings.max_body_bytes,  # a websocket message: as large as an HTTP body
        # Timeouts (DESIGN: sensible): idle keep-alive connections close after this long;
        # websockets are pinged every 20 s and dropped after 20 s without a pong.
        timeout_keep_alive=settings.keep_alive_timeout_seconds,
        ws_ping_interval=20.0,
        ws_ping_timeout=20.0,
        # permessage-deflate keeps zlib state per socket and compresses every frame once per
        # subscriber; GraphQL events are small, so it is off unless asked for.
        ws_per_message_deflate=settings.websocket_compression,
        # X-Forwarded-Proto/For are believed only from these peers (HSTS, client IPs).
        proxy_headers=True,
        forwarded_allow_ips=settings.forwarded_allow_ips,
        # On SIGTERM: stop accepting, let in-flight requests finish for this long, then run
        # the lifespan's shutdown (websockets 1001, analytics writer flush, pools closed).
        timeout_graceful_shutdown=settings.shutdown_grace_seconds,
        access_log=False,  # server.middleware logs one line per request, without secrets
        log_config=None,  # uvicorn's loggers go through ours (text or JSON, redacted)
    )


def _local_url(host: str, port: int) -> str:
    """The URL a browser on this machine opens for a server bound to `host`."""
    host = "127.0.0.1" if host in {"0.0.0.0", "::", ""} else host  # noqa: S104
    return f"http://{f'[{host}]' if ':' in host else host}:{port}"


def _start_demo(settings: Settings, url: str) -> None:
    """`serve --demo`: the demo user now; once the server answers, the demo agents, one block
    with the URLs and the credentials, then demo requests whose log lines are quiet."""
    from server.demo import (
        DEMO_PASSWORD,
        DEMO_USERNAME,
        check_demo_allowed,
        ensure_demo_user,
        quiet_demo_requests,
        start_demo_thread,
    )
    from server.landing import urls_block

    check_demo_allowed(settings)
    asyncio.run(ensure_demo_user(settings))
    quiet_demo_requests()
    signin = f"Demo sign-in  {DEMO_USERNAME} / {DEMO_PASSWORD}  (on the dashboard)"
    quiet = "The demo's own requests are not logged (LOG_LEVEL=DEBUG shows them)."
    start_demo_thread(url, interval_seconds=0.5, banner=urls_block(url, settings, (signin, quiet)))


def _seed_demo(settings: Settings, args: argparse.Namespace) -> None:
    from server.demo import (
        DemoError,
        check_demo_allowed,
        credentials_banner,
        ensure_demo_user,
        run_demo,
    )

    check_demo_allowed(settings)
    if args.interval < 0 or args.requests < 0:
        raise ConfigurationError("error: --interval and --requests must not be negative")
    asyncio.run(ensure_demo_user(settings))
    print(credentials_banner(args.url.rstrip("/")), flush=True)
    try:
        sent = run_demo(args.url, count=args.requests, interval_seconds=args.interval)
    except DemoError as exc:
        raise ConfigurationError(f"error: {exc}") from None
    print(f"demo: sent {sent} requests")


def _migrate(settings: Settings, _args: argparse.Namespace) -> None:
    from server.startup import prepare_stores

    asyncio.run(prepare_stores(settings))
    print("database schema is up to date")


def _has_terminal() -> bool:
    try:
        with open("/dev/tty", "rb"):  # where getpass prompts; absent without a terminal
            return True
    except OSError:
        return False


NO_TERMINAL = (
    "error: no terminal to ask for the password: pass it on standard input with "
    "--password-stdin (e.g. `printf '%s\\n' \"$PASSWORD\" | consciousness create-user ... "
    "--password-stdin`)"
)


def _read_password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        line = sys.stdin.readline() if sys.stdin is not None else ""
        if not line:
            raise ConfigurationError("error: --password-stdin: standard input is empty")
        return line.rstrip("\n")
    if not _has_terminal():
        raise ConfigurationError(NO_TERMINAL)
    try:
        password = getpass.getpass("Password: ")
        if getpass.getpass("Repeat password: ") != password:
            raise ConfigurationError("error: the passwords do not match")
    except EOFError:
        raise ConfigurationError(NO_TERMINAL) from None
    return password


def _choice(kind: type[E], option: str, text: str) -> E:
    """A member of `kind` by its GraphQL name (ADMIN) or stored value (admin), any case."""
    wanted = text.strip().lower().replace("-", "_")
    for member in kind:
        if wanted in {member.name.lower(), str(member.value).lower()}:
            return member
    choices = ", ".join(member.name for member in kind)
    raise ConfigurationError(f"error: {option} {text!r} is not one of {choices} (any case)")


def _create_user(settings: Settings, args: argparse.Namespace) -> None:
    from auth.passwords import PasswordPolicyError, check_policy, hash_password
    from core.enums import Role, Tier
    from core.errors import ApiError
    from db.repositories.users import create_user
    from db.session import Database
    from server.startup import prepare_database

    role, tier = _choice(Role, "--role", args.role), _choice(Tier, "--tier", args.tier)
    password = _read_password(args)
    try:
        check_policy(password, username=args.username)
    except PasswordPolicyError as exc:
        raise ConfigurationError(f"error: {exc}") from None

    async def run() -> None:
        await prepare_database(settings)  # not analytics: a running server holds chDB
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
            print(f"created user {user.username} ({user.id}) with role {role.name}")
        except ApiError as exc:
            raise ConfigurationError(f"error: {exc.message}") from None
        finally:
            await database.close()

    asyncio.run(run())


def _export_schema(_settings: Settings, _args: argparse.Namespace) -> None:
    from schema.schema import export_sdl

    sys.stdout.write(export_sdl())


def _export_openapi(_settings: Settings, _args: argparse.Namespace) -> None:
    from server.rest.openapi import export_openapi

    sys.stdout.write(export_openapi())


def _register_operations(settings: Settings, args: argparse.Namespace) -> None:
    """Check each document against the schema, then add it to the allow-list file."""
    from pathlib import Path

    from graphql import GraphQLError, parse, validate

    from db.allow_list import register_operations
    from schema.schema import schema

    target = Path(args.output) if args.output else settings.persisted_operations_file
    if target is None:
        raise ConfigurationError("error: set PERSISTED_OPERATIONS_FILE or pass --output")
    documents = []
    for name in args.files:
        try:
            document = Path(name).read_text(encoding="utf-8")
            errors = validate(schema._schema, parse(document))
        except OSError as exc:
            raise ConfigurationError(f"error: {name}: {exc.strerror}") from None
        except GraphQLError as exc:
            raise ConfigurationError(f"error: {name}: {exc.message}") from None
        if errors:
            raise ConfigurationError(f"error: {name}: {errors[0].message}")
        documents.append(document)
    for name, digest in zip(args.files, register_operations(target, documents), strict=True):
        print(f"{digest}  {name}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="consciousness", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the HTTP and websocket server")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1)
    serve.add_argument("--reload", action="store_true", help="restart on code changes (dev)")
    serve.add_argument(
        "--demo",
        action="store_true",
        help="create the demo user and agents and stream demo requests (not in production)",
    )
    serve.set_defaults(handler=_serve)

    seed = commands.add_parser(
        "seed-demo", help="create the demo user and agents, then send demo requests to a server"
    )
    seed.add_argument("--url", default="http://127.0.0.1:8000", help="the running server")
    seed.add_argument("--requests", type=int, default=0, help="how many (0: until Ctrl-C)")
    seed.add_argument("--interval", type=float, default=0.5, help="seconds between requests")
    seed.set_defaults(handler=_seed_demo)

    migrate = commands.add_parser("migrate", help="apply database migrations")
    migrate.set_defaults(handler=_migrate)

    create = commands.add_parser(
        "create-user", help="create a user (asks for the password, or --password-stdin)"
    )
    create.add_argument("--username", required=True)
    create.add_argument("--email", required=True)
    create.add_argument(
        "--role", default="USER", help="USER, DEVELOPER, RESEARCHER, ADMIN or SUPER_ADMIN"
    )
    create.add_argument("--tier", default="BASIC", help="BASIC, ADVANCED, ENTERPRISE or RESEARCH")
    create.add_argument(
        "--password-stdin", action="store_true", help="read the password from stdin"
    )
    create.set_defaults(handler=_create_user)

    rotate = commands.add_parser(
        "rotate-data-key",
        help="re-encrypt stored sessions under DATA_ENCRYPTION_KEY_ID (resumable, online)",
    )
    rotate.add_argument("--batch-size", type=int, default=200, help="sessions per transaction")
    rotate.set_defaults(handler=rotate_data_key)

    reindexing = commands.add_parser(
        "reindex", help="rebuild the session embeddings from the stored sessions (resumable)"
    )
    reindexing.add_argument("--batch-size", type=int, default=256, help="sessions per batch")
    reindexing.add_argument(
        "--resume", action="store_true", help="continue an interrupted run: keep what is stored"
    )
    reindexing.set_defaults(handler=reindex)

    export = commands.add_parser("export-schema", help="print the GraphQL SDL")
    export.set_defaults(handler=_export_schema)

    openapi = commands.add_parser("export-openapi", help="print the OpenAPI document of /api/v1")
    openapi.set_defaults(handler=_export_openapi)

    operations = commands.add_parser("operations", help="manage the persisted-operation allow-list")
    operation_commands = operations.add_subparsers(dest="operations_command", required=True)
    register = operation_commands.add_parser(
        "register", help="validate .graphql files and add them to PERSISTED_OPERATIONS_FILE"
    )
    register.add_argument("files", nargs="+", metavar="FILE")
    register.add_argument("--output", help="the allow-list file (default: the setting)")
    register.set_defaults(handler=_register_operations)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings()
        from server.observability import configure_logging

        configure_logging(settings.log_level.value, settings.log_format.value)
        args.handler(settings, args)
    except ConfigurationError as exc:
        print(exc, file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
