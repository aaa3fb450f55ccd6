"""Renders chat templates with Jinja2 the way Hugging Face transformers does
(ImmutableSandboxedEnvironment, trim_blocks, lstrip_blocks, loop controls, its tojson,
raise_exception and strftime_now), for the chat-template tests.
Usage: render_chat.py < {"cases": [{"template", "bos_token", "eos_token", "messages",
"add_generation_prompt"}]}  ->  {"results": [{"ok": true, "text": ...} | {"ok": false, "error": ...}]}"""
import json
import sys
from datetime import datetime, timezone

import jinja2
from jinja2.ext import loopcontrols
from jinja2.sandbox import ImmutableSandboxedEnvironment


def raise_exception(message):
    raise jinja2.exceptions.TemplateError(message)


def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


def strftime_now(fmt):
    return datetime.now(timezone.utc).strftime(fmt)


def main():
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    results = []
    for c in json.load(sys.stdin)["cases"]:
        try:
            text = env.from_string(c["template"]).render(
                messages=c["messages"], add_generation_prompt=c["add_generation_prompt"],
                bos_token=c["bos_token"], eos_token=c["eos_token"])
            results.append({"ok": True, "text": text})
        except Exception as e:  # the test only needs to know that rendering failed
            results.append({"ok": False, "error": str(e)})
    json.dump({"results": results}, sys.stdout, ensure_ascii=False)


if __name__ == "__main__":
    main()
