"""`sugo keys new|list|export`: the CURVE keys of the app folder (docs/network.md)."""

from sugo.cli.context import OK, Context
from sugo.cli.output import CliError
from sugo.errors import SugoError


def cmd_keys_new(ctx: Context) -> int:
    from sugo.protocol.keys import new_pair

    try:
        pair = new_pair(ctx.appdir, ctx.args.name)
    except (SugoError, OSError) as e:
        raise CliError(str(e)) from None
    if ctx.out.json_mode:
        ctx.out.json({"name": pair.name, "public": pair.public.decode(), "allowed": True})
        return OK
    ctx.out.line(f"sugo: key {pair.name} made and allowed ({pair.public.decode()})")
    ctx.out.line(f"sugo: next: 'sugo keys export {pair.name} DIR' for the other PC")
    return OK


def cmd_keys_list(ctx: Context) -> int:
    from sugo.protocol.keys import list_keys

    try:
        keys = list_keys(ctx.appdir)
    except SugoError as e:
        raise CliError(str(e)) from None
    if ctx.out.json_mode:
        ctx.out.json(keys)
        return OK
    ctx.out.table(
        ["NAME", "ALLOWED", "SECRET HERE", "PUBLIC KEY"],
        [
            [
                str(k["name"]),
                ("yes", "green") if k["allowed"] else ("no", "dim"),
                "yes" if k["secret"] else "no",
                str(k["public"]),
            ]
            for k in keys
        ],
    )
    return OK


def cmd_keys_export(ctx: Context) -> int:
    from sugo.protocol.keys import export

    try:
        written = export(ctx.appdir, ctx.args.name, ctx.args.dir)
    except (SugoError, OSError) as e:
        raise CliError(str(e)) from None
    if ctx.out.json_mode:
        ctx.out.json({"name": ctx.args.name, "written": [str(p) for p in written]})
        return OK
    for path in written:
        ctx.out.line(f"sugo: wrote {path}")
    return OK
