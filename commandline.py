"""The command line of every entry point (train.py, bench.py, sample.py): settings, help, exit
status.

Settings are the fields of a dataclass, given as --key=value (a Python literal, or a bare word as a
string; a bare --flag is True) or in a config file, a Python file whose top-level names are
settings (and `base`, another config file it starts from). Values are type-checked against the
field's annotation: an int may stand for a float, and one value for a tuple (tuple[int, ...]
checks each element). --help is written from the dataclass's source: each field's default as
written, its meaning from the comment beside it.
"""
import ast
import difflib
import inspect
import json
import re
import sys
import textwrap
import typing
from dataclasses import fields
from pathlib import Path

import checkpoint
import hf
from data import DataError
from step import Interrupted, NonFiniteLoss


class ConfigError(ValueError):
    """A request that cannot be carried out as asked; the message says how to fix it."""


class RunStopped(RuntimeError):
    """Training began and could not go on (a failed checkpoint write); the message says why."""


def coerce(name, value, kind):
    """value checked against a field's type; ints pass for floats, scalars for tuples."""
    if typing.get_origin(kind) is tuple:
        element = typing.get_args(kind)[0]
        items = value if isinstance(value, (tuple, list)) else (value,)
        return tuple(coerce(name, v, element) for v in items)
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if type(value) is not kind:
        raise ConfigError(f"{name} must be {kind.__name__}, got {value!r} ({type(value).__name__})")
    return value


def key_value(arg):
    """(key, value) of a --key=value argument: the value a Python literal, or a bare word as a
    string; a bare --flag is True."""
    key, eq, text = arg[2:].partition('=')
    if not eq:
        return key, True
    try:
        return key, ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return key, text


def checked(cls, key, value, where):
    """value for the field `key` of the dataclass cls, type-checked; an unknown key names the
    nearest known one."""
    kinds = {f.name: f.type for f in fields(cls)}
    if key not in kinds:
        lowered = key.lower().replace('-', '_')  # --LR, --n-layer
        near = [lowered] if lowered in kinds else difflib.get_close_matches(lowered, kinds, n=1,
                                                                             cutoff=0.6)
        hint = f"did you mean {near[0]}?" if near else f"known keys: {', '.join(kinds)}"
        raise ConfigError(f"unknown key {key!r} in {where}; {hint} (--help lists every setting)")
    return coerce(key, value, kinds[key])


def read_settings(cls, argv, files=True):
    """{key: value} for fields of the dataclass cls, from config files (if files) and --key=value
    arguments, later ones overriding earlier ones."""
    kinds = {f.name: f.type for f in fields(cls)}
    values = {}
    for i, arg in enumerate(argv):
        if arg.startswith('--'):
            key, value = key_value(arg)
            if '=' not in arg and key in kinds and kinds[key] is not bool:  # --key value, or none
                given = i + 1 < len(argv) and not argv[i + 1].startswith('--')
                after = argv[i + 1] if given else 'VALUE'
                raise ConfigError(f"{arg} needs a value: write {arg}={after} (settings are "
                                  f"--key=value)")
            values[key] = checked(cls, key, value, arg)
        elif i > 0 and argv[i - 1].startswith('--') and '=' not in argv[i - 1]:
            continue  # the value after a bare --key, reported there
        elif files:
            path = Path(arg)
            if not path.is_file() and '=' in arg:
                raise ConfigError(f"unexpected argument {arg!r}: did you mean --{arg}? (settings "
                                  f"are --key=value)")
            if not path.is_file():
                hint = f"did you mean {arg}.py?" if path.with_suffix('.py').is_file() else \
                    "arguments are a config file and --key=value"
                raise ConfigError(f"config file {arg} not found ({hint})")
            values.update(config_file(cls, path))
        else:
            hint = f"did you mean --{arg}? " if '=' in arg else ''
            raise ConfigError(f"unexpected argument {arg!r}: {hint}settings are given as "
                              f"--key=value (see --help)")
    return values


def config_file(cls, path, child=None):
    """{key: value} of a config file: a Python file whose top-level names are settings, or a run's
    config.json. One of a Python file's names may be `base`, the name of another config file beside
    it whose settings this one starts from and changes; a base has no base of its own, so every
    recipe reads with at most one other."""
    if path.suffix == '.json':
        return {key: checked(cls, key, value, str(path))
                for key, value in json.loads(path.read_text()).items()}
    scope = {}
    exec(path.read_text(), scope)
    values = {}
    if 'base' in scope:
        base = path.parent / scope['base']
        if child is not None:
            raise ConfigError(f"{child} has base {path}, which has a base of its own ({base}): a "
                              f"recipe has one parent at most; write {child}'s base as a recipe of "
                              f"its own")
        if not base.is_file():
            raise ConfigError(f"{path} has base {scope['base']!r}, not found beside it ({base})")
        values = config_file(cls, base, child=path)
    for key, value in scope.items():
        if not key.startswith('_') and key != 'base':
            values[key] = checked(cls, key, value, str(path))
    return values


def parse_settings(cls, argv):
    """An instance of the dataclass cls from --key=value arguments."""
    return cls(**read_settings(cls, argv, files=False))


def split_settings(cls, argv):
    """(the --key=value arguments that name a field of cls, the other arguments)."""
    names = {f.name for f in fields(cls)}
    mine = [a for a in argv if a.startswith('--') and key_value(a)[0] in names]
    return mine, [a for a in argv if a not in mine]


def settings_help(cls, values=None):
    """'--key=default  meaning' for every field of the dataclass cls, read from its source: the
    defaults as written there (or values[key], a recipe's), the meanings from the comments beside
    them (and below them, indented deeper), the sections from the comment lines between them."""
    lines = []
    for line in inspect.getsource(cls).splitlines()[2:]:
        setting = re.match(r"\s+(\w+): [^=]+? = (.+?)(?:\s+# (.*))?$", line)
        section = re.match(r"    # (.*)$", line)              # at the fields' indentation
        meaning_goes_on = re.match(r"\s{5,}# (.*)$", line)     # deeper: the comment above goes on
        if setting:
            name, default, meaning = setting.groups()
            default = repr(values[name]) if values else default
            lines.append(f"  --{name}={default}".ljust(32) + '  ' + (meaning or ''))
        elif section:
            lines.append(f"{section.group(1)}:")
        elif meaning_goes_on:
            lines[-1] += ' ' + meaning_goes_on.group(1)
    return '\n'.join(lines)


def help_text(doc, flags, settings):
    """What --help prints for a command: its docstring, its flags (flag: meaning), its settings."""
    flag_lines = [textwrap.fill(meaning, 100, initial_indent=f"  {flag}".ljust(34),
                                subsequent_indent=' ' * 34)
                  for flag, meaning in flags.items()]
    text = [doc.strip(), '', 'flags:', *flag_lines]
    if settings:
        text += ['', 'settings (--key=value, a Python literal; default, then meaning):', settings]
    return '\n'.join(text)


def command(argv, main, help):
    """A command's entry: --help or -h prints `help`; else main(argv), with the expected failures
    turned into one line on stderr and an exit status: 2 for a bad request (nothing was touched),
    1 for a run that had to stop, 0 otherwise."""
    if '--help' in argv or '-h' in argv:
        print(help)
        return 0
    try:
        main(argv)
    except (ConfigError, DataError, checkpoint.CheckpointError, hf.HFError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except (NonFiniteLoss, RunStopped) as e:
        print(f"stopped: {e}", file=sys.stderr)
        return 1
    except Interrupted as e:
        print(f"stopped: {e}", file=sys.stderr)
    return 0
