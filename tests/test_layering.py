"""Dependencies point one way: bot -> retrieval, bot -> config. The engine never loads discord
(or config), and the CLI's ask/search/index paths do not pay for importing discord."""
from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FORBIDDEN_IN_ENGINE = ("discord", "config", "bot", "pydantic", "pydantic_settings")


def fresh(code: str, cwd: Path) -> dict:
    """Run ``code`` in a new interpreter; it prints a JSON object as its last line."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CITEBOT_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env["CITEBOT_WATCH"] = "false"
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_using_the_engine_never_loads_discord_or_config(tmp_path: Path) -> None:
    result = fresh(
        f"""
        import json, sys
        from citebot.retrieval import Library
        library = Library.open({str(ROOT / "seeds")!r}, cache_dir={str(tmp_path / "cache")!r})
        answer = library.ask("Where might the second summit be held?")
        library.search("summit", 3)
        Library.open({str(ROOT / "seeds")!r}, cache_dir={str(tmp_path / "cache")!r})  # from the cache
        parts = [name.split(".") for name in sys.modules]
        loaded = sorted({{p[1] if p[0] == "citebot" and len(p) > 1 else p[0] for p in parts}})
        print(json.dumps({{"found": answer.found, "loaded": loaded}}))
        """,
        tmp_path,
    )
    assert result["found"] is True
    leaked = [name for name in FORBIDDEN_IN_ENGINE if name in result["loaded"]]
    assert leaked == []


CLI_RUNS = [
    ["ask", "--json", "--no-cache", "Where might the second summit be held?"],
    ["ask", "--no-cache", "Where might the second summit be held?"],
    ["search", "--json", "--no-cache", "summit"],
    ["index", "--json", "--no-cache"],
]


def test_cli_paths_other_than_run_do_not_import_discord(tmp_path: Path) -> None:
    # One interpreter, the commands in turn: discord must still be absent after each.
    result = fresh(
        f"""
        import contextlib, io, json, sys
        from citebot.bot import cli
        runs = []
        for argv in {CLI_RUNS!r}:
            with contextlib.redirect_stdout(io.StringIO()) as out:
                code = cli.main(argv)
            runs.append({{"code": code, "discord": "discord" in sys.modules, "out": bool(out.getvalue())}})
        print(json.dumps({{"runs": runs}}))
        """,
        tmp_path,
    )
    assert result["runs"] == [{"code": 0, "discord": False, "out": True}] * len(CLI_RUNS)


def component(module: str) -> str:
    """The part of the project (or the outside package) a module belongs to: "citebot.bot.cli" -> "bot"."""
    parts = module.split(".")
    return parts[1] if parts[0] == "citebot" and len(parts) > 1 else parts[0]


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text("utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(component(alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module == "citebot" and node.level == 0:
            names.update(alias.name for alias in node.names)  # from citebot import config
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(component(node.module))
    return names


def test_no_engine_module_imports_a_front_end_or_config() -> None:
    modules = sorted((ROOT / "retrieval").glob("*.py"))
    assert modules
    offenders = {p.name: sorted(imports_of(p) & {"discord", "config", "bot"}) for p in modules}
    assert {k: v for k, v in offenders.items() if v} == {}


def test_config_does_not_import_discord_or_the_front_ends() -> None:
    for path in (ROOT / "config").glob("*.py"):
        assert not imports_of(path) & {"discord", "bot"}, path.name
