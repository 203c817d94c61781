"""python -m deploy <command> — see deploy/__init__.py and docs/deploy.md."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GENERATED = Path(__file__).resolve().parent / "generated"


def _stack(args) -> Path | None:
    return Path(args.stack).resolve() if getattr(args, "stack", None) else None


def cmd_build_context(args) -> int:
    from . import context

    names = args.function or []
    if args.all:
        from local import stack

        names = list(stack.functions(_stack(args)))
    if not names:
        print("name a function, or --all", file=sys.stderr)
        return 2
    for name in names:
        out = Path(args.out) / name if args.out and len(names) > 1 else (Path(args.out) if args.out else None)
        try:
            print(context.build_context(name, out, _stack(args)))
        except context.ContextError as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
    return 0


def cmd_ingress(args) -> int:
    from . import ingress

    overrides = {
        "server_name": args.server_name,
        "upstream": args.upstream,
        "static_root": args.static_root,
        "cluster_issuer": args.cluster_issuer,
        "router_image": args.router_image,
    }
    options = ingress.default_options(stack_path=_stack(args), **overrides)
    if args.kind == "nginx" and args.no_tls:
        options = ingress.Options(**{**options.__dict__, "tls": False})
    try:
        text = ingress.generate(args.kind, options, _stack(args))
    except ingress.NotRepresentable as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.write:
        GENERATED.mkdir(exist_ok=True)
        target = GENERATED / ingress.FILENAMES[args.kind]
        target.write_text(text)
        print(target)
    else:
        sys.stdout.write(text)
    return 0


def cmd_requirements(args) -> int:

    from . import requirements

    try:
        if args.check:
            lock = requirements.load()
            problems = [p for fn in requirements.all_functions() for p in requirements.check(fn, lock)]
            for problem in problems:
                print(problem, file=sys.stderr)
            return 1 if problems else 0
        for path in requirements.write_all():
            print(path.relative_to(ROOT))
    except requirements.LockError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


def cmd_table(args) -> int:
    from . import table

    if args.cloudformation:
        print(table.cloudformation_json(args.table_name))
        return 0
    for line in table.create(endpoint=args.endpoint, table_name=args.table_name):
        print(line)
    return 0


def cmd_secrets(args) -> int:
    from . import secrets

    if args.generate:
        try:
            sys.stdout.write(secrets.generate(args.generate, sandbox=args.sandbox))
        except KeyError as err:
            print(f"error: {err.args[0]}", file=sys.stderr)
            return 2
        return 0
    print(secrets.commands(_stack(args), gateway=args.gateway))
    missing = secrets.undocumented(_stack(args))
    if missing:
        print(f"error: undocumented secrets: {', '.join(missing)}", file=sys.stderr)
        return 1
    return 0


def cmd_oidc_client(args) -> int:
    from . import clients

    try:
        done = clients.register(
            args.client_id,
            args.name,
            args.redirect_uri,
            id_token_alg=args.id_token_alg,
            userinfo_alg=args.userinfo_alg,
            endpoint=args.endpoint,
        )
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(json.dumps(done.__dict__, indent=2))
    print("Give client_secret to FranceConnect now: it is stored only as a keyed hash.", file=sys.stderr)
    return 0


def cmd_keys(args) -> int:
    from . import keys

    path = Path(args.file) if args.file else keys.default_path()
    try:
        if args.action == "add":
            print(f"added {keys.add(path, args.target or 'ES256')} (published, not signing yet)")
        elif args.action == "promote":
            keys.promote(path, args.target)
        elif args.action == "retire":
            keys.retire(path, args.target)
    except (KeyError, ValueError) as err:
        print(f"error: {err.args[0]}", file=sys.stderr)
        return 2
    print(json.dumps(keys.describe(path), indent=2))
    return 0


def cmd_journal(args) -> int:
    from . import journal

    try:
        ok, lines = journal.verify(endpoint=args.endpoint, table_name=args.table_name, anchor=args.anchor)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print("\n".join(lines))
    return 0 if ok else 1


def cmd_sandbox_stack(args) -> int:
    """stack.sandbox.yml: stack.yml with deploy/sandbox.yml's differences."""
    from local import stack

    text = stack.sandbox_stack_text()
    if args.check:
        current = stack.SANDBOX_STACK.read_text() if stack.SANDBOX_STACK.is_file() else ""
        if current != text:
            print(
                f"{stack.SANDBOX_STACK.name} is not what stack.yml and deploy/sandbox.yml give: "
                "python -m deploy sandbox-stack --write",
                file=sys.stderr,
            )
            return 1
        return 0
    if args.write:
        stack.SANDBOX_STACK.write_text(text)
        print(stack.SANDBOX_STACK.relative_to(ROOT))
    else:
        sys.stdout.write(text)
    return 0


def cmd_template(args) -> int:
    from . import template_pin

    pin = template_pin.load()
    if args.action == "source":
        print(pin.source)
        return 0
    folder = Path(args.folder) if args.folder else template_pin.checkout()
    if folder is None:
        print(
            f"error: no {template_pin.PULLED.relative_to(ROOT)}: run `faas-cli template pull stack` first",
            file=sys.stderr,
        )
        return 2
    problems = template_pin.verify(folder, pin)
    for problem in problems:
        print(f"{folder}: {problem}", file=sys.stderr)
    if not problems:
        print(f"{folder}: {pin.template} at {pin.commit}, as stack.yml pins it")
    return 1 if problems else 0


def cmd_status(args) -> int:
    from . import status

    print("\n".join(status.status(endpoint=args.endpoint, table_name=args.table_name, limit=args.limit)))
    return 0


def cmd_stats(args) -> int:
    from . import stats

    try:
        ok, lines = stats.backfill(
            args.check, since=args.since, settle=args.settle, endpoint=args.endpoint, table_name=args.table_name
        )
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print("\n".join(lines))
    return 0 if ok else 1


def main(argv=None) -> int:
    sys.path.insert(0, str(ROOT))
    parser = argparse.ArgumentParser(prog="python -m deploy", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("build-context", help="a function's build context, as faas-cli makes it")
    p.add_argument("function", nargs="*", help="deployed name (otp-verify) or folder (otp_verify)")
    p.add_argument("--all", action="store_true", help="every function in stack.yml")
    p.add_argument("--out", help="output folder (default build/<fn>, as faas-cli)")
    p.add_argument("--stack", help="the stack file (default stack.yml; the training sandbox: stack.sandbox.yml)")
    p.set_defaults(fn=cmd_build_context)

    p = sub.add_parser("ingress", help="the ingress, from the routes in stack.yml")
    p.add_argument("--kind", choices=["nginx", "k8s", "functioningress"], default="nginx")
    p.add_argument("--server-name", help="public host (default: ISSUER's host in stack.yml)")
    p.add_argument("--upstream", help="nginx: the OpenFaaS gateway (default 127.0.0.1:8080, faasd)")
    p.add_argument("--static-root", help="nginx: folder of the front-end")
    p.add_argument("--cluster-issuer", help="k8s, functioningress: cert-manager ClusterIssuer")
    p.add_argument("--router-image", help="k8s: the router's image (nginx + the front-end under /usr/share/nginx/html)")
    p.add_argument("--no-tls", action="store_true", help="nginx: plain HTTP (TLS terminated in front)")
    p.add_argument("--write", action="store_true", help="write to deploy/generated/ instead of stdout")
    p.add_argument("--stack", help="the stack file (default stack.yml; the training sandbox: stack.sandbox.yml)")
    p.set_defaults(fn=cmd_ingress)

    p = sub.add_parser("requirements", help="each function's requirements.txt, from requirements.lock")
    p.add_argument("--check", action="store_true", help="write nothing; exit 1 if a file disagrees")
    p.set_defaults(fn=cmd_requirements)

    p = sub.add_parser("table", help="the DynamoDB table, from the pynamodb models")
    group = p.add_mutually_exclusive_group(required=True)
    group.add_argument("--cloudformation", action="store_true", help="print the CloudFormation template")
    group.add_argument("--create", action="store_true", help="create it with boto3 (idempotent)")
    p.add_argument("--endpoint", help="DynamoDB endpoint (DynamoDB Local, moto); default AWS or DYNAMODB_HOST")
    p.add_argument("--table-name", help="default TABLE_NAME or aidants-connect")
    p.set_defaults(fn=cmd_table)

    p = sub.add_parser("secrets", help="faas-cli commands creating every secret stack.yml lists")
    p.add_argument("--generate", metavar="NAME", help="print a fresh value for one secret")
    p.add_argument("--gateway", help="gateway URL written in the commands (default: faas-cli's OPENFAAS_URL)")
    p.add_argument("--stack", help="the stack file (default stack.yml; the training sandbox: stack.sandbox.yml)")
    p.add_argument("--sandbox", action="store_true", help="--generate: the training sandbox's value")
    p.set_defaults(fn=cmd_secrets)

    p = sub.add_parser("sandbox-stack", help="the training sandbox's stack (stack.yml + deploy/sandbox.yml)")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--write", action="store_true", help="write stack.sandbox.yml instead of stdout")
    group.add_argument("--check", action="store_true", help="exit 1 if stack.sandbox.yml is not up to date")
    p.set_defaults(fn=cmd_sandbox_stack)

    p = sub.add_parser("oidc-client", help="register FranceConnect as a client of our identity provider")
    p.add_argument("--client-id", required=True)
    p.add_argument("--name", default="FranceConnect")
    p.add_argument("--redirect-uri", action="append", required=True, help="exact callback URL (repeat)")
    p.add_argument("--id-token-alg", choices=["ES256", "RS256"], help="default: the server's first key")
    p.add_argument("--userinfo-alg", choices=["ES256", "RS256"], help="default: plain JSON userinfo")
    p.add_argument("--endpoint", help="DynamoDB endpoint; default AWS or DYNAMODB_HOST")
    p.set_defaults(fn=cmd_oidc_client)

    p = sub.add_parser("keys", help="rotate the OIDC signing keys in the secret's file")
    p.add_argument("action", choices=["list", "add", "promote", "retire"])
    p.add_argument("target", nargs="?", help="add: ES256 or RS256; promote, retire: the key's kid")
    p.add_argument("--file", help="default: $SECRETS_DIR/oidc-signing-keys")
    p.set_defaults(fn=cmd_keys)

    p = sub.add_parser("journal", help="verify the deployed journal against its seals (read-only)")
    p.add_argument("action", choices=["verify"])
    p.add_argument("--anchor", metavar="SEQ:HASH", help="a seal hash kept outside the table (from an earlier verify)")
    p.add_argument("--endpoint", help="DynamoDB endpoint; default AWS or DYNAMODB_HOST")
    p.add_argument("--table-name", help="default TABLE_NAME or aidants-connect")
    p.set_defaults(fn=cmd_journal)

    p = sub.add_parser("template", help="the python3-http template pinned in stack.yml")
    p.add_argument(
        "action",
        choices=["verify", "source"],
        help="verify: a pulled template folder is the pinned commit's; source: print stack.yml's source",
    )
    p.add_argument("folder", nargs="?", help="default: ./template/python3-http (faas-cli template pull stack)")
    p.set_defaults(fn=cmd_template)

    p = sub.add_parser("status", help="the outbox's backlog and failed e-mails, in a deployed table")
    p.add_argument("--table-name", help="the table (default: TABLE_NAME, or aidants-connect)")
    p.add_argument("--endpoint", help="a DynamoDB endpoint (default: AWS, from AWS_REGION)")
    p.add_argument("--limit", type=int, default=20, help="failed e-mails to list (newest first)")
    p.set_defaults(fn=cmd_status)

    p = sub.add_parser("stats", help="the public statistics' counters recomputed from the data: drift, backfill")
    from . import stats

    stats.add_arguments(p)
    p.add_argument("--endpoint", help="a DynamoDB endpoint (default: AWS, from AWS_REGION)")
    p.add_argument("--table-name", help="the table (default: TABLE_NAME, or aidants-connect)")
    p.set_defaults(fn=cmd_stats)

    args = parser.parse_args(argv)
    return args.fn(args)


if __name__ == "__main__":
    sys.exit(main())
