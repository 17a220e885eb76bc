"""The ``delphi`` command line.

Every command that fails because of the user's input prints one line per problem and
exits 2; exit 1 is kept for failures outside the user's input (a messenger or database
that cannot be reached, a token the messenger rejects). Either way one or two sentences
and never a traceback (unless ``--debug``) or a secret (:mod:`bot.app.failures`).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import traceback
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any

from bot.app.analyze_cli import register as register_analyze
from bot.app.config import Config, load_config
from bot.app.failures import CommandError, explain
from bot.app.logs import configure_logging, guard_logging, remember_secrets, scrub
from bot.app.outputs import write_files
from bot.app.readiness import require_current_schema
from engine.clock import SystemClock
from engine.db import Store
from engine.errors import DelphiError
from engine.loading import load_study
from engine.problems import FileProblems
from engine.schema import downgrade, schema_state, upgrade
from engine.studyfile import describe, load_study_file

EXIT_USAGE = 2
MAX_INVITES = 1000
__all__ = ["CommandError", "main", "require_current_schema"]


def _run(coro: Coroutine[Any, Any, int]) -> int:
    return asyncio.run(coro)


def _config(args: argparse.Namespace, messengers: bool = False) -> Config:
    """The config; the bot tokens are required only by commands that talk to a messenger
    (``messengers=True``), so migrations, exports and reports run without them."""
    config = load_config(args.config, messengers=messengers)
    remember_secrets(config.secrets())
    return config


async def _with_store(config: Config, body: Callable[[Store], Coroutine[Any, Any, int]]) -> int:
    store = Store.from_url(config.database_url)
    try:
        return await body(store)
    finally:
        await store.dispose()


# --- study -------------------------------------------------------------------------------

def cmd_study_check(args: argparse.Namespace) -> int:
    study = load_study_file(args.file)
    print(f"{args.file}: valid. {describe(study)}")
    return 0


def cmd_study_load(args: argparse.Namespace) -> int:
    config = _config(args)
    path = Path(args.file) if args.file else config.study_path
    study = load_study_file(path)

    async def body(store: Store) -> int:
        await require_current_schema(store, args.config)
        async with store.transaction() as session:
            outcome = await load_study(session, study, SystemClock().now())
        if outcome.created:
            print(f"Loaded study {outcome.study_id!r} with {outcome.statements} statements; "
                  "round 1 is ready to open.")
        else:
            print(f"Study {outcome.study_id!r} is already loaded from this file; nothing "
                  "changed.")
        return 0

    return _run(_with_store(config, body))


# --- db ----------------------------------------------------------------------------------

def cmd_db_upgrade(args: argparse.Namespace) -> int:
    config = _config(args)

    async def body(store: Store) -> int:
        before = await schema_state(store.engine)
        await upgrade(store.engine, args.revision)
        after = await schema_state(store.engine)
        print(f"Database schema: {before.current or 'empty'} -> {after.current} "
              f"(head {after.head}).")
        return 0

    return _run(_with_store(config, body))


def cmd_db_downgrade(args: argparse.Namespace) -> int:
    config = _config(args)

    async def body(store: Store) -> int:
        await downgrade(store.engine, args.revision)
        after = await schema_state(store.engine)
        print(f"Database schema now at {after.current or 'base (empty)'}.")
        return 0

    return _run(_with_store(config, body))


def cmd_db_current(args: argparse.Namespace) -> int:
    config = _config(args)

    async def body(store: Store) -> int:
        state = await schema_state(store.engine)
        verdict = "up to date" if state.up_to_date else "out of date"
        print(f"Database schema: {state.current or 'empty'} (head {state.head}): {verdict}.")
        return 0 if state.up_to_date else 1

    return _run(_with_store(config, body))


# --- invite / export ---------------------------------------------------------------------

async def invite_forms(config: Config) -> list[Callable[[str], str]]:
    """How each configured platform redeems a token: the Telegram deep link needs the bot's
    username, which only Telegram knows (getMe)."""
    forms: list[Callable[[str], str]] = []
    if config.telegram is not None:
        from telegram import Bot

        settings = config.telegram
        token = settings.token.get_secret_value()
        bot = Bot(token, base_url=settings.base_url) if settings.base_url else Bot(token)
        async with bot:
            username = bot.username
        forms.append(lambda token: f"https://t.me/{username}?start={token}")
    if config.slack is not None:
        forms.append(lambda token: f"/delphi join {token}")
    return forms or [lambda token: token]


def invite_count(text: str) -> int:
    """``--count``: checked before anything (database, Telegram) is contacted."""
    from bot.dialogue.arguments import number
    from engine.errors import InvalidValue

    try:
        return number(text, 1, MAX_INVITES, "")
    except InvalidValue:
        raise argparse.ArgumentTypeError(f"give a whole number from 1 to {MAX_INVITES}, "
                                         f"not {text[:30]!r}") from None


def _invite_file(path: str | None) -> Path | None:
    """``--out FILE``: a new file only, since the links of an overwritten list could not
    be recovered (only the invites' hashes are stored)."""
    if path is None:
        return None
    out = Path(path)
    if out.exists():
        raise CommandError(f"{out} already exists; choose a new file name (overwriting it "
                           "would lose the invite links in it).")
    if not out.parent.is_dir():
        raise CommandError(f"{out.parent} is not a folder; create it first.")
    return out


def cmd_invite(args: argparse.Namespace) -> int:
    from engine.enrolment import create_invites

    config = _config(args, messengers=True)
    out = _invite_file(args.out)

    async def body(store: Store) -> int:
        await require_current_schema(store, args.config)
        study = load_study_file(config.study_path)
        forms = await invite_forms(config)
        async with store.transaction() as session:
            tokens = await create_invites(session, study.study.id, args.count,
                                          SystemClock().now(), group=args.group)
        lines = ["  ".join(form(token) for form in forms) for token in tokens]
        if out is None:
            print("\n".join(lines))
        else:
            out.touch(mode=0o600)
            out.write_text("\n".join(lines) + "\n", encoding="utf-8")
            print(f"Wrote {len(lines)} single-use invite link{'s' if len(lines) != 1 else ''} "
                  f"to {out}; send one to each expert. Keep the file private: only the "
                  "invites' hashes are stored, so these links cannot be shown again.")
        return 0

    return _run(_with_store(config, body))


def cmd_export(args: argparse.Namespace) -> int:
    from engine.exports import export_files

    config = _config(args)
    out = Path(args.out)

    async def body(store: Store) -> int:
        await require_current_schema(store, args.config)
        study = load_study_file(config.study_path)
        async with store.transaction() as session:
            files = await export_files(session, study.study.id,
                                       screening_answers=args.screening_answers)
        write_files(out, files)
        print(f"Wrote {', '.join(files)} to {out}/ (pseudonyms only).")
        return 0

    return _run(_with_store(config, body))


def cmd_report(args: argparse.Namespace) -> int:
    from engine.report import build_report

    config = _config(args)
    out = Path(args.out)
    templates = Path(args.templates) if args.templates else config.templates_path
    if templates is not None and not templates.is_dir():
        print(f"The report templates folder {templates} does not exist.", file=sys.stderr)
        return 2

    async def body(store: Store) -> int:
        await require_current_schema(store, args.config)
        study = load_study_file(config.study_path)
        async with store.transaction() as session:
            report = await build_report(session, study.study.id, SystemClock().now(),
                                        templates=templates)
        write_files(out, report.files())
        print(f"Wrote report.html (self-contained), report.md and report.docx with "
              f"{len(report.figures)} figure files (PNG 300 dpi, SVG, PDF) to {out}/ "
              "(pseudonyms only).")
        return 0

    return _run(_with_store(config, body))


# --- participant ---------------------------------------------------------------------

def cmd_participant_erase(args: argparse.Namespace) -> int:
    """Delete one participant's platform identity; their pseudonymous answers stay."""
    from engine.privacy import erase_identity, participant_by_pseudonym

    config = _config(args)

    async def body(store: Store) -> int:
        await require_current_schema(store, args.config)
        study = load_study_file(config.study_path)
        async with store.transaction() as session:
            found = await participant_by_pseudonym(session, args.pseudonym, study.study.id)
            if not found:
                raise CommandError(f"no participant {args.pseudonym!r} in study "
                                   f"{study.study.id!r}; nothing was changed")
            erasure = await erase_identity(session, found[0].id, SystemClock().now(), "cli")
        withdrawn = "; withdrawn" if erasure.withdrawn else ""
        print(f"Erased the identity of {erasure.pseudonym} ({erasure.identities_deleted} "
              f"identity row(s) deleted{withdrawn}); their pseudonymous ratings and comments "
              "stay.")
        return 0

    return _run(_with_store(config, body))


# --- run / demo --------------------------------------------------------------------------

def cmd_run(args: argparse.Namespace) -> int:
    from bot.app.runtime import run_bot

    config = _config(args, messengers=True)
    configure_logging(config.secrets())
    return _run(run_bot(config, args.config))


def cmd_demo(args: argparse.Namespace) -> int:
    from bot.tools.demo import run_demo

    return _run(run_demo(Path(args.out), args.seed, args.experts))


def cmd_pilot(args: argparse.Namespace) -> int:
    from bot.tools.pilot import run_pilot

    study = Path(args.study) if args.study else None
    if study is not None:
        load_study_file(study)  # a broken file is reported before anything starts
    return _run(run_pilot(study, args.seed))


# --- parser ------------------------------------------------------------------------------

def _add_config(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, metavar="CONFIG",
                        help="the deployment config (see config.example.toml)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="delphi", description="Run Delphi expert-consensus studies in Telegram and Slack.")
    parser.add_argument("--version", action="version", version=f"delphi {version()}")
    parser.add_argument("--debug", action="store_true",
                        help="show the full traceback when a command fails (may be given "
                             "anywhere on the line)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    study = commands.add_parser("study", help="check or load a study file")
    study_commands = study.add_subparsers(dest="study_command", required=True)
    check = study_commands.add_parser("check", help="validate a study file")
    check.add_argument("file", metavar="FILE")
    check.set_defaults(func=cmd_study_check)
    load = study_commands.add_parser("load", help="load a study file into the database")
    load.add_argument("file", metavar="FILE", nargs="?",
                      help="default: the study file named in the config")
    _add_config(load)
    load.set_defaults(func=cmd_study_load)

    db = commands.add_parser("db", help="database schema migrations")
    db_commands = db.add_subparsers(dest="db_command", required=True)
    up = db_commands.add_parser("upgrade", help="migrate the database to the newest schema")
    _add_config(up)
    up.add_argument("--revision", default="head", help=argparse.SUPPRESS)
    up.set_defaults(func=cmd_db_upgrade)
    down = db_commands.add_parser("downgrade", help="migrate back to REVISION (base = empty)")
    _add_config(down)
    down.add_argument("revision", metavar="REVISION")
    down.set_defaults(func=cmd_db_downgrade)
    current = db_commands.add_parser("current", help="show the schema revision")
    _add_config(current)
    current.set_defaults(func=cmd_db_current)

    invite = commands.add_parser("invite", help="create single-use invites and print them")
    _add_config(invite)
    invite.add_argument("--count", type=invite_count, required=True, metavar="N",
                        help=f"how many invites (1 to {MAX_INVITES})")
    invite.add_argument("--group", default=None, help="stakeholder group to assign")
    invite.add_argument("--out", default=None, metavar="FILE",
                        help="write the links to this new file (mode 0600) instead of the "
                             "screen")
    invite.set_defaults(func=cmd_invite)

    export = commands.add_parser("export", help="write the CSV exports and study.xlsx "
                                                 "(pseudonyms only)")
    _add_config(export)
    export.add_argument("--out", required=True, metavar="DIR")
    export.add_argument("--screening-answers", action="store_true",
                        help="also write screening_answers.csv: every expert's screening "
                             "answers by pseudonym (personal declarations; off by default)")
    export.set_defaults(func=cmd_export)

    report = commands.add_parser("report", help="write the study report (HTML, Markdown, "
                                                 "Word) and its figures")
    _add_config(report)
    report.add_argument("--out", required=True, metavar="DIR")
    report.add_argument("--templates", metavar="DIR",
                        help="your own report templates (report.html.j2, blocks.html.j2, "
                             "report.css, report.md.j2); overrides [report] templates")
    report.set_defaults(func=cmd_report)

    participant = commands.add_parser("participant", help="manage one participant")
    participant_commands = participant.add_subparsers(dest="participant_command",
                                                      required=True)
    erase = participant_commands.add_parser(
        "erase", help="delete a participant's platform identity (ids, names); their "
                      "pseudonymous ratings and comments stay")
    erase.add_argument("pseudonym", metavar="PSEUDONYM", help="e.g. P03")
    _add_config(erase)
    erase.set_defaults(func=cmd_participant_erase)

    run = commands.add_parser("run", help="run the bot on the configured messengers")
    _add_config(run)
    run.set_defaults(func=cmd_run)

    demo = commands.add_parser("demo", help="run the example study end to end on SQLite")
    demo.add_argument("--out", default="demo-output", metavar="DIR")
    demo.add_argument("--seed", type=int, default=7)
    demo.add_argument("--experts", type=int, default=15, help=argparse.SUPPRESS)
    demo.set_defaults(func=cmd_demo)

    pilot = commands.add_parser("pilot", help="take a study's ballot yourself in the terminal")
    pilot.add_argument("--study", metavar="FILE", help="default: the bundled example study")
    pilot.add_argument("--seed", type=int, default=7)
    pilot.set_defaults(func=cmd_pilot)

    register_analyze(commands)
    return parser


def version() -> str:
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed

    try:
        return installed("delphi-conductor")
    except PackageNotFoundError:  # pragma: no cover - run from a checkout without install
        return "unknown (not installed)"


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command. Expected failures are one or two sentences on stderr and a
    non-zero exit; ``--debug`` (anywhere on the line) adds the traceback, redacted too."""
    words = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in words
    words = [w for w in words if w != "--debug"]
    args = build_parser().parse_args(words)
    guard_logging(logging.DEBUG if debug else logging.WARNING)
    try:
        code: int = args.func(args)
        return code
    except FileProblems as problems:
        for problem in problems.problems:
            print(scrub(problem.render(problems.path)), file=sys.stderr)
        return EXIT_USAGE
    except (CommandError, DelphiError) as error:
        print(f"delphi: {scrub(str(error))}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    except Exception as error:  # the top-level handler: every failure explained
        if debug:
            print(scrub("".join(traceback.format_exception(error))), file=sys.stderr)
        failure = explain(error)
        print(f"delphi: {failure.message}", file=sys.stderr)
        return failure.code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
