"""The `scanpass` command.

    scanpass check PATH... [--condition C] [--area A] [--visit YYYY-MM-DD] [--symptoms yes|no|unsure]
                           [--infection yes|no] [--lang LOCALE] [--format text|json]
    scanpass sample FOLDER      write a sample upload of invented scans
    scanpass demo [--lang L]    write the sample and print its checklist
    scanpass chat [--lang L]    the conversation in this terminal
    scanpass purge              delete cases and files older than RETENTION_DAYS
    scanpass serve              the server (web chat, dashboard, health, Telegram when TELEGRAM_BOT_TOKEN is set)
    scanpass worker [--concurrency N]   runs the jobs (checks, downloads, deliveries, purge) on PostgreSQL
    scanpass coordinator add USERNAME [--locale L] [--password-stdin]
    scanpass coordinator list | remove USERNAME     dashboard accounts (/coordinator)

Exit 0 when the check ran, whatever the verdict; 2 with one line on stderr for
a usage error (unknown condition, bad date, missing path).
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import re
import sys
from pathlib import Path

from rules.answers import INFECTION, SYMPTOMS, AnswerError, Answers
from rules.errors import ScanPassError
from rules.policy import load


class UsageError(ScanPassError):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, not argparse's usage block
        raise UsageError(message)


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"bad date {text!r}: use YYYY-MM-DD, e.g. 2027-03-15") from None


def _parser() -> argparse.ArgumentParser:
    policy = load()
    parser = _Parser(prog="scanpass", description="Checks DICOM scans against Chinese Tier-3A hospital acceptance rules.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    check = commands.add_parser("check", help="check files, folders, archives and disc images")
    check.add_argument("paths", nargs="+", metavar="PATH")
    check.add_argument("--condition", default="other", help=f"one of: {', '.join(policy.conditions)} (default other)")
    check.add_argument("--area", default="other", help=f"one of: {', '.join(policy.areas)} (default other)")
    check.add_argument("--visit", type=_date, default=None, help="planned first hospital visit, YYYY-MM-DD (default today)")
    check.add_argument("--symptoms", default="no", help=f"symptoms changed since the scans: {'|'.join(SYMPTOMS)}")
    check.add_argument("--infection", default="no", help=f"imaging for an infection work-up: {'|'.join(INFECTION)}")
    check.add_argument("--lang", default="en", help="checklist language, e.g. en, zh_Hans (closest shipped one is used)")
    check.add_argument("--format", choices=("text", "json"), default="text")

    sample = commands.add_parser("sample", help="write a sample upload of invented scans to FOLDER")
    sample.add_argument("folder", type=Path)

    chat = commands.add_parser("chat", help="the conversation in this terminal (numbered buttons, file paths as uploads)")
    chat.add_argument("--lang", default=None, help="language to start in, e.g. ru, ar, zh_Hans (default: from $LANG)")

    commands.add_parser("purge", help="delete cases and files older than RETENTION_DAYS")
    commands.add_parser("serve", help="run the server: web chat, dashboard, health, Telegram when TELEGRAM_BOT_TOKEN is set")
    worker = commands.add_parser("worker", help="run the jobs: checks, link downloads, deliveries, the daily purge")
    worker.add_argument("--concurrency", type=int, default=2, help="jobs at once (default 2)")

    coordinator = commands.add_parser("coordinator", help="dashboard accounts: add, list, remove")
    accounts = coordinator.add_subparsers(dest="action", required=True, parser_class=_Parser)
    add = accounts.add_parser("add", help="create an account; asks for its password twice")
    add.add_argument("username")
    add.add_argument("--locale", default=None, help="dashboard language, e.g. zh_Hans (default COORDINATOR_LOCALE)")
    add.add_argument("--password-stdin", action="store_true", help="read the password from the first line of stdin")
    accounts.add_parser("list", help="list accounts")
    remove = accounts.add_parser("remove", help="delete an account and sign it out everywhere")
    remove.add_argument("username")

    demo = commands.add_parser("demo", help="write the sample upload and print its checklist")
    demo.add_argument("--folder", type=Path, default=Path("data/sample"))
    demo.add_argument("--lang", default="en")
    return parser


def _answers(args: argparse.Namespace) -> Answers:
    try:
        return Answers(condition=args.condition, area=args.area, visit=args.visit or dt.date.today(),
                       symptoms=args.symptoms, infection=args.infection)
    except AnswerError as exc:
        raise UsageError(f"--{exc.field}: {exc}") from None


def _progress(done: int, total: int) -> None:
    sys.stderr.write(f"\r{done}/{total}")
    sys.stderr.flush()


def run_check(paths: list[str], answers: Answers, lang: str, output: str) -> int:
    from rules.checker import check

    missing = [path for path in paths if not Path(path).exists() and not Path(path).is_symlink()]
    if missing:
        raise UsageError(f"no such file or folder: {missing[0]}")
    progress = _progress if output == "text" and sys.stderr.isatty() else None
    report = check(paths, answers, progress=progress)
    if progress:
        sys.stderr.write("\r\033[K")
    if output == "json":
        json.dump(report.to_json(), sys.stdout, ensure_ascii=False, indent=2)
        sys.stdout.write("\n")
    else:
        from dialogs.checklist import checklist  # jinja2 and babel: the text checklist only

        sys.stdout.write(checklist(report, lang))
    return 0


def _with_storage(args: argparse.Namespace) -> int:
    import os

    from storage.config import Settings
    from storage.repository import Repository

    settings = Settings.from_env()
    repository = Repository.from_settings(settings)
    repository.open()
    if args.command == "purge":
        count = repository.purge(settings.retention_days)
        print(f"purged {count} case(s) older than {settings.retention_days} days")
        return 0
    from bot.terminal import Terminal

    lang = args.lang or (os.environ.get("LANG", "").split(".")[0] or None)
    try:
        return Terminal(repository, settings, lang).run()
    except KeyboardInterrupt:
        print()
        return 0


USERNAME = re.compile(r"[^\s/]{1,200}")


def _coordinator(args: argparse.Namespace) -> int:
    """`scanpass coordinator add|list|remove`: passwords are asked without echo and kept only as argon2id hashes."""
    import getpass

    from bot.web.auth import PasswordRefused, hash_password
    from dialogs.i18n import shipped
    from storage.config import Settings
    from storage.coordinators import CoordinatorExists, Coordinators
    from storage.repository import Repository

    settings = Settings.from_env()
    store = Coordinators(Repository.from_settings(settings).open())
    if args.action == "list":
        for account in store.all():
            print(f"{account.username}\t{account.locale}")
        return 0
    if args.action == "remove":
        if not store.remove(args.username):
            raise UsageError(f"no coordinator {args.username!r}")
        print(f"removed coordinator {args.username!r}")
        return 0
    if not USERNAME.fullmatch(args.username):
        raise UsageError("a username is 1 to 200 characters, without spaces or slashes")
    locale = args.locale or settings.coordinator_locale
    if locale not in shipped():
        raise UsageError(f"--locale: no catalog for {locale!r} (shipped: {', '.join(shipped())})")
    if store.find(args.username):
        raise UsageError(f"coordinator {args.username!r} already exists")
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = getpass.getpass(f"Password for {args.username}: ")
        if getpass.getpass("Repeat the password: ") != password:
            raise UsageError("the passwords do not match; nothing was saved")
    try:
        store.add(args.username, hash_password(password), locale)
    except PasswordRefused as refused:
        raise UsageError(str(refused)) from None
    except CoordinatorExists as exists:
        raise UsageError(str(exists)) from None
    print(f"added coordinator {args.username!r} ({locale}); sign in at /coordinator/login")
    return 0


def main(argv: list[str] | None = None) -> int:
    try:
        args = _parser().parse_args(argv)
        if args.command == "check":
            return run_check(args.paths, _answers(args), args.lang, args.format)
        if args.command == "coordinator":
            return _coordinator(args)
        if args.command in ("chat", "purge"):
            return _with_storage(args)
        if args.command == "worker":
            from bot.worker import run as run_worker
            from storage.config import Settings

            return run_worker(Settings.from_env(), max(1, args.concurrency))
        if args.command == "serve":
            from bot.serve import run
            from storage.config import Settings

            return run(Settings.from_env())
        from bot.sample import write_sample

        if args.command == "sample":
            paths = write_sample(args.folder)
            print("\n".join(str(path) for path in paths))
            return 0
        paths = write_sample(args.folder)
        answers = Answers(condition="active_oncology", area="brain_tumor")
        print(f"$ scanpass check {' '.join(str(p) for p in paths)} --condition active_oncology --area brain_tumor --lang {args.lang}\n")
        return run_check([str(p) for p in paths], answers, args.lang, "text")
    except UsageError as exc:
        print(f"scanpass: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
