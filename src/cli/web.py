"""`sugo web`: the HTTP API and dashboard in the foreground; `sugo web token
new|list|remove`: the tokens that let browsers and scripts in beyond loopback.

FastAPI and uvicorn are imported only here, when `sugo web` runs: no other
command pays for them.
"""

from typing import TYPE_CHECKING

from sugo.cli.context import FAILED, OK, Context
from sugo.errors import SugoError

if TYPE_CHECKING:
    from sugo.web.auth import TokenFile


def _tokens(ctx: Context) -> "TokenFile":
    from sugo.web.auth import TokenFile, tokens_path

    appdir = ctx.appdir
    configured = None
    settings_file = appdir / "settings.toml"
    if settings_file.exists():
        from sugo.config.settings import load_settings

        configured = load_settings(settings_file).web.tokens
    return TokenFile(tokens_path(appdir, configured))


def _listen(ctx: Context) -> str:
    if ctx.args.listen:
        return str(ctx.args.listen)
    settings_file = ctx.appdir / "settings.toml"
    if settings_file.exists():
        from sugo.config.settings import load_settings

        configured = load_settings(settings_file).web.listen
        if configured:
            return configured
    from sugo.web.server import DEFAULT_LISTEN

    return DEFAULT_LISTEN


def cmd_web(ctx: Context) -> int:
    from sugo.protocol.endpoints import parse_listen
    from sugo.web.server import serve

    try:
        host, port = parse_listen(_listen(ctx))
    except ValueError as e:
        raise SugoError(str(e)) from None
    return serve(host, port, ctx.port, ctx.appdir, tied=ctx.args.tied)


def cmd_token_new(ctx: Context) -> int:
    tokens = _tokens(ctx)
    token = tokens.new(ctx.args.name, ctx.args.role)
    if ctx.out.json_mode:
        ctx.out.json({"name": ctx.args.name, "role": ctx.args.role, "token": token,
                      "path": str(tokens.path)})  # fmt: skip
    else:
        ctx.out.line(token)
        print(f"sugo: token {ctx.args.name!r} ({ctx.args.role}) added to {tokens.path};"
              " it is shown only now", file=ctx.out.err)  # fmt: skip
    return OK


def cmd_token_list(ctx: Context) -> int:
    tokens = _tokens(ctx)
    entries = [{k: e.get(k) or "" for k in ("name", "role", "created")} for e in tokens.entries()]
    if ctx.out.json_mode:
        ctx.out.json({"path": str(tokens.path), "tokens": entries})
        return OK
    ctx.out.table(["NAME", "ROLE", "CREATED"], [[e["name"], e["role"], e["created"] or "-"]
                                                for e in entries])  # fmt: skip
    return OK


def cmd_token_remove(ctx: Context) -> int:
    tokens = _tokens(ctx)
    try:
        tokens.remove(ctx.args.name)
    except SugoError as e:
        ctx.out.error(str(e))
        return FAILED
    if ctx.out.json_mode:
        ctx.out.json({"removed": ctx.args.name})
    else:
        ctx.out.line(f"token {ctx.args.name!r} removed")
    return OK
