"""Write the reference documents of docs/reference/ from the code itself:
the payload, devices and settings references from the pydantic models that
load those files (their JSON Schema), the CLI reference from the `sugo` parser,
the HTTP reference from the OpenAPI document of `sugo web`.

    python docs/generate.py           # rewrite docs/reference/*.md
    python docs/generate.py --check   # exit 1 if any of them is out of date

The prose for each key lives in NOTES below; keys the models gain later still
appear (with their type and default) even before they get a note.
"""

import argparse
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parent / "reference"

#: One line per key path ("a.b", "list[].key") explaining what it is for.
NOTES: dict[str, dict[str, str]] = {
    "payload": {
        "version": "Payload version. Older tomato versions (0.1 to 2.1) are upgraded on load.",
        "user": "Who runs the job.",
        "user.identifier": "User name; defaults to the OS user who submits.",
        "sample": "The sample the job measures.",
        "sample.identifier": "Must equal the sample loaded in the pipeline that runs the job.",
        "settings": "How the job runs and where its output goes.",
        "settings.unlock_when_done": "Mark the pipeline ready again when the job has ended.",
        "settings.verbosity": "Level of the job's log.",
        "settings.output": "Where the results file goes.",
        "settings.output.path": "Folder of the results file; relative paths are relative to "
        "where `sugo submit` ran and must stay inside it. Default: that folder.",
        "settings.output.prefix": "File name without `.nc`. Default: `results.<jobid>`. "
        "A submit is refused when a queued or running job writes the same file, when the "
        "file exists already, is a folder, or its name is too long for the file system.",
        "settings.output.repositories": "Kept from tomato's 2.2 payloads; not used by sugo.",
        "settings.snapshot": "Write `snapshot.<jobid>.nc` with the data so far, periodically.",
        "settings.snapshot.interval": "Seconds between snapshots, or a duration with units.",
        "settings.snapshot.path": "Folder of the snapshot file (default: the results "
        "folder); relative paths as for `output.path`.",
        "settings.snapshot.prefix": "Snapshot file name without `.nc` (default: "
        "`snapshot.<jobid>`); it may not be the results file or another job's.",
        "method": "The tasks, in order. Tasks of one role run one after the other; "
        "roles run side by side.",
        "method[].component_role": "The pipeline role that runs the task.",
        "method[].technique_name": "A technique among the component's capabilities.",
        "method[].max_duration": "How long the task runs: seconds, or a duration with units "
        '(`"5 min"`).',
        "method[].sampling_interval": "Seconds between two points (`do_task` calls).",
        "method[].polling_interval": "Kept from tomato; the job runner polls at the "
        "device's `pollrate`.",
        "method[].task_params": "Attrs set on the component (validated by its driver) "
        "before the task starts.",
        "method[].task_name": "A name for the task, unique in the payload; triggers refer to it.",
        "method[].start_with_task_name": "Start only once the named task has started.",
        "method[].stop_with_task_name": "Stop when the named task starts.",
    },
    "devices": {
        "devices": "The instruments.",
        "devices[].name": "Unique device name; pipelines refer to it.",
        "devices[].driver": "A built-in driver (`counter`, `example_counter`, `psutil`), one "
        "installed in the entry-point group `sugo.drivers`, or a tomato driver package "
        "(module `tomato_<name>`, which wins over a built-in of the same name).",
        "devices[].address": "Where the instrument is: a serial port, an IP address, "
        "a simulator's name...",
        "devices[].channels": "The channels in use; each is one component, named "
        "`<driver>:(<address>,<channel>)`.",
        "devices[].pollrate": "Seconds between the job runner's data polls of this device.",
        "devices[].host": "The agent (`sugo agent --name`) whose PC the device hangs off; "
        "absent: the daemon's PC. All devices of one driver are on one host (docs/network.md).",
        "pipelines": "Where jobs run: each gives components roles.",
        "pipelines[].name": "Unique pipeline name; a name ending in `*` expands to one "
        'pipeline per channel of its `channel = "each"` member.',
        "pipelines[].devices": "The roles of the pipeline.",
        "pipelines[].devices[].role": "The role name payload tasks use (`component_role`).",
        "pipelines[].devices[].device": "A device of this file.",
        "pipelines[].devices[].channel": 'One of the device\'s channels, or `"each"` in a '
        "wildcard pipeline.",
    },
    "settings": {
        "datadir": "Folder of the job database and job folders.",
        "logdir": "Folder of the daemon's, driver hosts' and jobs' logs.",
        "jobs": "Where job data goes and how carefully it is written.",
        "jobs.storage": "One folder per job: its staging data and its log.",
        "jobs.dbpath": "The SQLite database (only the daemon writes it).",
        "jobs.fsync": "Flush staged data to the disk (fsync); every polled chunk is in the "
        "staging file before the next poll either way, so only a power cut can take data. "
        "Turn off only on very slow disks.",
        "jobs.fsync_interval": "Seconds a staged chunk may wait for its fsync (0: at every "
        "poll): what a power cut can take at most.",
        "jobs.retention_days": "Delete folders of finished jobs after this many days "
        "(not their results files).",
        "devices": "The devices file.",
        "devices.config": "Path of the devices file (TOML, YAML or JSON, by suffix).",
        "daemon": "How the daemon and driver hosts listen.",
        "daemon.bind": "IP address to listen on (IPv4 or IPv6; `0.0.0.0` or `::` for every "
        "address, reached locally at loopback); keep 127.0.0.1 unless other machines must "
        "reach the daemon. Any address of this machine works (`127.0.0.2`, `::1`); "
        "`sugo start` refuses one that is not. A reload cannot change it.",
        "daemon.max_message_bytes": "Largest message accepted on a socket.",
        "logging": "How much the daemon and its driver hosts log.",
        "logging.level": "Log level of the daemon and its driver hosts; `sugo start -v` "
        "(DEBUG), `-q` (WARNING) or `--verbosity LEVEL` override it for one start.",
        "drivers": "One table per driver name (`[drivers.counter]`): sugo's timeouts for its "
        "components (below); every other key is passed to that driver.",
        "drivers.<name>.verb_timeout": "Seconds a job waits for a component verb (a reset, "
        "a task start or stop) that queues behind a slow one on the component, as long as "
        "the driver host answers; a host that stops answering is noticed within a second or "
        "two. Raise it for an instrument whose reset takes longer.",
        "drivers.<name>.stop_timeout": "Seconds a cancelled (or stopped) task may keep "
        "running before sugo stops its sampling loop itself; as long again and the job "
        "stops waiting for it, so a cancel ends within about twice this.",
        "drivers.<name>.task_grace": "The task watchdog: seconds a task may run past its "
        "`max_duration` before it is ended with an error (its data kept) and the component "
        'shows 330 "task hung" and takes no task until the stuck call returns or '
        "`sugo component restart`; unset: the driver's own (`DeviceManager.task_grace`, "
        "30 s by default).",
        "network": "The endpoint for agents and remote clients (docs/network.md).",
        "network.listen": "`tcp://ADDRESS:PORT`; always CURVE-encrypted with the allow-list "
        "in the app folder's keys/, loopback included.",
        "web": "The HTTP API and dashboard (`sugo web`, see docs/web.md).",
        "web.listen": "`HOST:PORT`: the daemon starts `sugo web` there and restarts it if it "
        "dies; `sugo status` shows its URL. Any address but 127.0.0.1 and ::1 needs tokens.",
        "web.tokens": "The owner-only tokens file (default `web-tokens.json` beside this "
        "file); `sugo web token new NAME --role viewer|operator` adds one.",
    },
}

INTRO = {
    "payload": (
        "A payload says what a job runs: the sample, some settings and the method, a list of "
        "tasks. Write it in TOML, YAML or JSON (by suffix). tomato payloads of versions 0.1 "
        "to 2.2 load unchanged. Check one without running it: `sugo check PAYLOAD`; "
        "editors can complete it with the schema from `sugo schema payload`."
    ),
    "devices": (
        "The devices file lists the instruments and the pipelines built from them "
        "(TOML, YAML or JSON). `sugo init` writes one with simulated devices; "
        "`sugo reload` applies changes to a running daemon. tomato devices files load "
        "unchanged. Schema: `sugo schema devices`."
    ),
    "settings": (
        "`settings.toml` lives in the app folder (`--appdir`, `$SUGO_APPDIR`, else the "
        "user config folder); `sugo init` writes a commented one. Relative paths in it are "
        "relative to its folder, `~` is your home. Schema: `sugo schema settings`."
    ),
}

RULES = {
    "payload": [
        "Unknown keys are errors, everywhere.",
        "Durations (`max_duration`, `sampling_interval`, `snapshot.interval`) are seconds "
        'or strings with units: `"90 s"`, `"5 min"`, `"1.5 h"`.',
        "Task names are unique; a trigger names an existing task other than itself, and "
        "tasks may not wait on each other in a cycle.",
        "Whether a pipeline can run the payload (roles, techniques, task parameters) is "
        "checked by `sugo check` and at `sugo submit`.",
    ],
    "devices": [
        "Device and pipeline names are unique; every channel of a device is unique.",
        "A component (device + channel) belongs to one device only; a role appears once "
        "per pipeline.",
        'A wildcard pipeline (`name = "pip-*"`) has exactly one member, with '
        '`channel = "each"`; it expands to `pip-<channel>` for each channel.',
    ],
    "settings": [
        "Unknown keys are errors, except inside `[drivers.<name>]`, which the driver checks.",
    ],
}


# -- model references ------------------------------------------------------------------


def _resolve(schema: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    return defs[ref.rsplit("/", 1)[-1]] if ref else schema


def _type(schema: dict[str, Any], defs: dict[str, Any]) -> str:
    if "$ref" in schema:
        return "table"
    if "anyOf" in schema:
        kinds = [_type(s, defs) for s in schema["anyOf"] if s.get("type") != "null"]
        return " or ".join(dict.fromkeys(kinds))
    if "enum" in schema:
        return "one of " + ", ".join(f"`{v}`" for v in schema["enum"])
    if "const" in schema:
        return f"`{schema['const']}`"
    kind = schema.get("type", "any")
    if kind == "array":
        return f"list of {_type(schema.get('items', {}), defs)}"
    if kind == "object":
        inner = schema.get("additionalProperties")
        return f"table of {_type(inner, defs)}" if isinstance(inner, dict) else "table"
    limits = []
    for key, sign in (("exclusiveMinimum", ">"), ("minimum", "≥"), ("maximum", "≤")):
        if key in schema:
            limits.append(f"{sign} {schema[key]}")
    if schema.get("minLength"):
        limits.append("not empty")
    names = {"string": "string", "number": "number", "integer": "integer", "boolean": "boolean"}
    text = names.get(kind, kind)
    return f"{text} ({', '.join(limits)})" if limits else text


def _nested(schema: dict[str, Any], defs: dict[str, Any]) -> tuple[dict[str, Any] | None, str]:
    """The object schema a property holds (directly, optional or as list items)."""
    for option in schema.get("anyOf", [schema]):
        target = option
        suffix = ""
        if target.get("type") == "array":
            target, suffix = target.get("items", {}), "[]"
        elif isinstance(target.get("additionalProperties"), dict):  # a table of tables
            target, suffix = target["additionalProperties"], ".<name>"
        target = _resolve(target, defs)
        if "properties" in target:
            return target, suffix
    return None, ""


def _default(prop: dict[str, Any], required: bool) -> str:
    if required:
        return "**required**"
    if "default" not in prop:
        return "-"
    value = prop["default"]
    if isinstance(value, dict | list) and value:
        return "(see below)" if isinstance(value, dict) else f"`{value}`"
    if value is None:
        return "unset"
    if value == "":
        return '`""`'
    text = str(value).lower() if isinstance(value, bool) else repr(value)
    return f"`{text.strip(chr(39))}`" if isinstance(value, str) else f"`{text}`"


def _tables(
    kind: str, schema: dict[str, Any], defs: dict[str, Any], path: str
) -> Iterator[list[str]]:
    notes = NOTES.get(kind, {})
    title = f"`{path}`" if path else "Top level"
    lines = [f"### {title}", ""]
    if path and schema.get("description"):
        lines += [schema["description"].strip(), ""]
    lines += ["| key | type | default | meaning |", "|---|---|---|---|"]
    later = []
    required = set(schema.get("required", []))
    for key, prop in schema.get("properties", {}).items():
        full = f"{path}.{key}" if path else key
        nested, suffix = _nested(prop, defs)
        note = notes.get(full) or notes.get(full + suffix) or prop.get("description", "")
        kind_text = _type(prop, defs)
        if nested is not None:
            head, _, tail = kind_text.rpartition("table")  # the innermost table
            kind_text = f"{head}table (`{full}{suffix}`){tail}"
            later.append((nested, full + suffix))
        default = _default(prop, key in required)
        lines.append(f"| `{key}` | {kind_text} | {default} | {' '.join(note.split())} |")
    yield lines
    for nested, sub in later:
        yield from _tables(kind, nested, defs, sub)


def model_reference(kind: str) -> str:
    from sugo.config.schema import json_schema

    schema = json_schema(kind)  # type: ignore[arg-type]
    defs = schema.get("$defs", {})
    out = [
        f"# {kind.capitalize()} file reference",
        "",
        "<!-- Generated by docs/generate.py from the models that load these files: "
        "do not edit by hand. -->",
        "",
        INTRO[kind],
        "",
        "## Rules beyond the table",
        "",
        *[f"- {rule}" for rule in RULES[kind]],
        "",
        "## Keys",
        "",
    ]
    for table in _tables(kind, schema, defs, ""):
        out += [*table, ""]
    return "\n".join(out).rstrip() + "\n"


# -- CLI reference ---------------------------------------------------------------------


def _subcommands(parser: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in dict.fromkeys(action.choices.values()):
                yield sub
                yield from _subcommands(sub)


#: What a positional argument without its own help text is.
POSITIONAL_HELP = {
    "ID": "a job id",
    "pipeline": "a pipeline name",
    "sample": "a sample name",
    "NAME": "a component name, e.g. `counter:(sim-counter,1)`",
    "ATTR": "an attr of the component",
    "VALUE": "the new value, as text (the driver converts it)",
    "DEVICE": "a device name",
    "LABEL": "the label of a maintenance item",
    "TEXT": "part of a job name",
    "kind": "which kind of file",
}


def _is_common(action: argparse.Action) -> bool:
    common = {"--port", "--appdir", "--json", "-v", "-q", "--verbosity", "-h"}
    return bool(set(action.option_strings) & common)


def _argument_rows(parser: argparse.ArgumentParser) -> list[str]:
    rows = []
    for action in parser._actions:
        if _is_common(action) or isinstance(action, argparse._SubParsersAction):
            continue
        if action.help == argparse.SUPPRESS:
            continue
        name = ", ".join(action.option_strings) or (action.metavar or action.dest)
        if action.option_strings and action.nargs != 0:
            name += f" {action.metavar or action.dest.upper()}"
        if action.choices and not action.option_strings:
            name += " (" + " \\| ".join(str(c) for c in action.choices) + ")"
        text = action.help or POSITIONAL_HELP.get(str(action.metavar or action.dest), "")
        rows.append(f"| `{name}` | {' '.join(text.split())} |")
    return rows


def _usage(parser: argparse.ArgumentParser) -> str:
    """The usage line without the common options (listed once at the top)."""
    parts = [parser.prog]
    for action in parser._actions:
        if _is_common(action) or action.help == argparse.SUPPRESS:
            continue
        if isinstance(action, argparse._SubParsersAction):
            parts.append("VERB ...")
            continue
        name = action.metavar or (
            "{" + ",".join(map(str, action.choices)) + "}" if action.choices else action.dest
        )
        if action.option_strings:
            flag = action.option_strings[-1]
            text = flag if action.nargs == 0 else f"{flag} {action.metavar or action.dest.upper()}"
            parts.append(text if action.required else f"[{text}]")
        elif action.nargs == "+":
            parts.append(f"{name} [{name} ...]")
        elif action.nargs == "*":
            parts.append(f"[{name} ...]")
        elif action.nargs == "?":
            parts.append(f"[{name}]")
        else:
            parts.append(str(name))
    return " ".join(parts)


def cli_reference() -> str:
    from sugo.cli.parser import build_parser

    parser = build_parser()
    out = [
        "# `sugo` command reference",
        "",
        "<!-- Generated by docs/generate.py from the command's parser: do not edit by hand. -->",
        "",
        parser.description or "",
        "",
        "Every command takes the common options:",
        "",
        "| option | meaning |",
        "|---|---|",
    ]
    for action in parser._actions:
        if _is_common(action) and "-h" not in action.option_strings:
            out.append(f"| `{', '.join(action.option_strings)}` | {action.help} |")
    out += ["", parser.epilog or "", ""]
    for sub in _subcommands(parser):
        if sub.get_default("handler") is None and not _argument_rows(sub):
            out += [f"## `{sub.prog}`", "", sub.description or "", ""]
            continue
        usage = _usage(sub)
        out += [f"## `{sub.prog}`", "", sub.description or "", "", "```", usage, "```", ""]
        rows = _argument_rows(sub)
        if rows:
            out += ["| argument | meaning |", "|---|---|", *rows, ""]
    return "\n".join(out).rstrip() + "\n"


# -- main --------------------------------------------------------------------------------


def documents() -> dict[Path, str]:
    docs = {
        OUT / f"{kind}.md": model_reference(kind) for kind in ("payload", "devices", "settings")
    }
    docs[OUT / "cli.md"] = cli_reference()
    from sugo.web.apidoc import http_reference  # the HTTP API, from its OpenAPI document

    docs[OUT / "http.md"] = http_reference()
    return docs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only say whether they are current")
    args = parser.parse_args(argv)
    stale = []
    for path, text in documents().items():
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if current == text:
            continue
        stale.append(path)
        if not args.check:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path}")
    if args.check and stale:
        names = ", ".join(str(p.relative_to(OUT.parent.parent)) for p in stale)
        print(f"out of date: {names}; run: python docs/generate.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
