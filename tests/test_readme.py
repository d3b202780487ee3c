"""The README's commands match the CLI exactly: every `genrec COMMAND --option` it names
exists, and every command the CLI has appears in its table."""

from __future__ import annotations

import re
from pathlib import Path

from typer.main import get_command

from genrec.cli import app

README = Path(__file__).resolve().parents[1] / "README.md"


def _cli() -> tuple[dict[str, set[str]], set[str]]:
    group = get_command(app)
    commands = {name: {o for p in cmd.params for o in (*p.opts, *p.secondary_opts)} | {"--help"}
                for name, cmd in group.commands.items()}
    top = {o for p in group.params for o in (*p.opts, *p.secondary_opts)} | {"--help"}
    return commands, top


def _mentions(text: str) -> list[list[str]]:
    """Token lists of every `genrec ...` the README shows (inline code and code blocks)."""
    snippets = re.findall(r"`([^`\n]*genrec [^`\n]*)`", text)
    snippets += ["genrec " + s for s in re.findall(r"` / `([a-z-]+ --[^`\n]*)`", text)]
    blocks = re.findall(r"```(?:bash|sh)?\n(.*?)```", text, flags=re.S)
    snippets += [line for block in blocks for line in block.splitlines()
                 if re.match(r"\s*(\S*/)?genrec ", line)]
    out = []
    for snip in snippets:
        for part in re.split(r"(?:^|\s)(?:\S*/)?genrec\s", " " + snip)[1:]:
            # "add-items ... / remove-items ...": each half names a command
            for half in re.split(r" / (?=[a-z-]+ --)", part):
                out.append(half.split())
    return out


def test_every_command_and_option_in_the_readme_exists():
    commands, top = _cli()
    text = README.read_text(encoding="utf-8")
    mentions = _mentions(text)
    assert len(mentions) > 20
    for tokens in mentions:
        name = tokens[0]
        if name.startswith("-"):
            assert name in top, name
            continue
        if name.startswith(("(", "COMMAND")):
            continue
        assert name in commands, f"README names `genrec {name}`, which does not exist"
        for tok in tokens[1:]:
            for opt in re.findall(r"(?<![\w-])(--?[a-z][a-z0-9-]*)", tok):
                assert opt in commands[name], f"README: `genrec {name} {opt}` does not exist"


def test_every_command_is_in_the_readme_table():
    commands, _ = _cli()
    table = README.read_text(encoding="utf-8").split("## Commands", 1)[1].split("\n## ", 1)[0]
    for name in commands:
        assert re.search(rf"(genrec |/ `){re.escape(name)}\b", table), f"`{name}` not in README"
