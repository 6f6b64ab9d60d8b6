"""DVC's configuration as DVC reads it (dvc/config.py): ConfigObj syntax (inline comments, quoted
values), four levels merged in DVC's order (system, global, repo `.dvc/config`, local
`.dvc/config.local`; later wins, key by key), section and key names lower-cased, and relative
paths (`url`, `credentialpath`, `keyfile`, `cache.dir`, ...) resolved against the folder of the
file that set them. The system and global folders are DVC's (dvc/dirs.py): `DVC_SYSTEM_CONFIG_DIR`
and `DVC_GLOBAL_CONFIG_DIR`, else platformdirs' site and user config folders for app "dvc"
(`/etc/xdg/dvc`, `$XDG_CONFIG_HOME/dvc` or `~/.config/dvc` on Linux).

No DVC import: `weightops resolve` reads remotes through this module, and ConfigObj is the small
library DVC itself parses with.
"""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from weightops.storage.pointers import PointerError, Remote

LEVELS = ("system", "global", "repo", "local")
# The options DVC resolves as paths (Config._map_dirs), per remote and for the cache.
_REMOTE_PATHS = ("url", "gdrive_user_credentials_file", "gdrive_service_account_json_file_path", "credentialpath",
                 "configpath", "keyfile", "cert_path", "key_path")
_NAMED = re.compile(r'^\s*(remote|machine|db)\s*"(.*)"\s*$')


@dataclass(frozen=True)
class ConfigLevel:
    """One level's file: `level` (one of LEVELS), `origin` (the path as shown to users), its
    parsed `conf` (DVC's shape: `{"core": {...}, "remote": {name: {...}}, ...}`)."""

    level: str
    origin: str
    conf: dict


def config_dirs() -> dict[str, str]:
    """{"system": folder, "global": folder} as dvc/dirs.py computes them: `DVC_SYSTEM_CONFIG_DIR`
    and `DVC_GLOBAL_CONFIG_DIR` first, then platformdirs' site/user config folder for appname
    "dvc". On Linux those are platformdirs' XDG rule, computed here without importing it (its
    import pulls in tempfile and shutil: about a tenth of resolve's CPU time);
    tests/storage/test_dvc_config.py checks the rule against DVC's own function. A folder
    that cannot be named (no usable home) is left out."""
    found = {"system": os.environ.get("DVC_SYSTEM_CONFIG_DIR"), "global": os.environ.get("DVC_GLOBAL_CONFIG_DIR")}
    if not all(found.values()):
        rules = _xdg_rules() if sys.platform == "linux" else _platformdirs_rules()
        for level, rule in rules.items():
            try:
                found[level] = found[level] or rule()
            except (RuntimeError, KeyError, OSError):
                found[level] = None
    return {level: folder for level, folder in found.items() if folder}


def _xdg_rules() -> dict:
    """platformdirs' Unix rule: an absolute $XDG_CONFIG_HOME, else ~/.config (HOME if absolute,
    else the password database's home); the first absolute entry of $XDG_CONFIG_DIRS, else
    /etc/xdg; "dvc" appended."""
    def user() -> str:
        xdg = os.environ.get("XDG_CONFIG_HOME", "")
        if os.path.isabs(xdg):
            return os.path.join(xdg, "dvc")
        home = os.environ.get("HOME", "")
        if not os.path.isabs(home):
            import pwd

            home = pwd.getpwuid(os.getuid()).pw_dir
        if not os.path.isabs(home):
            raise RuntimeError("no home folder")
        return os.path.join(home.rstrip("/") or "/", ".config", "dvc")

    def site() -> str:
        dirs = [d for d in os.environ.get("XDG_CONFIG_DIRS", "").split(os.pathsep) if os.path.isabs(d)]
        return os.path.join(dirs[0] if dirs else "/etc/xdg", "dvc")

    return {"system": site, "global": user}


def _platformdirs_rules() -> dict:
    import platformdirs

    return {"system": lambda: platformdirs.site_config_dir("dvc", "iterative"),
            "global": lambda: platformdirs.user_config_dir("dvc", "iterative")}


def parse_config(text: bytes | str | None, origin: str, conf_dir: str | None = None) -> dict:
    """One config file's text -> DVC's dict (named sections under "remote"/"machine"/"db", keys
    lower-cased), with relative paths joined onto `conf_dir` (absolute folder) when given, as
    DVC's Config._load_paths does. PointerError (1) naming `origin` for text ConfigObj refuses."""
    from configobj import ConfigObj, ConfigObjError

    if not text:
        return {}
    try:
        lines = (text.decode("utf-8") if isinstance(text, bytes) else text).splitlines()
        conf = ConfigObj(lines).dict()
    except (UnicodeDecodeError, ConfigObjError) as exc:
        raise PointerError(f"DVC config {origin} cannot be read ({str(exc).splitlines()[0]}); "
                           "check it with `dvc config --list`") from None
    result: dict = {"remote": {}, "machine": {}, "db": {}}
    for section, values in _lower_keys(conf).items():
        match = _NAMED.match(section)
        if match:
            result[match.group(1)][match.group(2)] = values
        else:
            result[section] = values
    if conf_dir is not None:
        _resolve_paths(result, conf_dir)
    return result


def read_levels(repo_text: bytes | str | None = None, local_text: bytes | str | None = None, *,
                dvc_dir: str | os.PathLike | None = None, repo_origin: str = ".dvc/config") -> list[ConfigLevel]:
    """The four levels, lowest first: system and global from disk (config_dirs()), then the
    repo config's text and the local one's. `dvc_dir` (the work tree's `.dvc` folder, None for a
    bare clone or a URL) is where the repo and local levels' relative paths point. Missing files
    are empty levels. PointerError (1) for a file ConfigObj refuses."""
    levels = []
    for level, folder in config_dirs().items():
        path = os.path.join(folder, "config")
        try:
            text = Path(path).read_bytes()
        except (FileNotFoundError, NotADirectoryError, PermissionError):
            text = None
        levels.append(ConfigLevel(level, path, parse_config(text, path, os.path.abspath(folder))))
    base = os.path.abspath(dvc_dir) if dvc_dir is not None else None
    levels.append(ConfigLevel("repo", repo_origin, parse_config(repo_text, repo_origin, base)))
    local_origin = repo_origin + ".local"
    levels.append(ConfigLevel("local", local_origin, parse_config(local_text, local_origin, base)))
    return levels


def merge_levels(levels: list[ConfigLevel]) -> dict:
    """The levels merged as DVC merges them (dvc/config.py `merge`: later levels win, nested
    sections merged key by key)."""
    merged: dict = {}
    for level in levels:
        _merge(merged, level.conf)
    return merged


def remotes_of(conf: dict) -> tuple[str | None, dict[str, Remote]]:
    """A merged config -> (`core.remote` or None, remotes with a `url` by name). Option values
    are strings as ConfigObj reads them (a comma list is joined back)."""
    core = conf.get("core") if isinstance(conf.get("core"), dict) else {}
    default = core.get("remote")
    remotes = {}
    for name, opts in (conf.get("remote") or {}).items():
        if not isinstance(opts, dict):
            continue
        flat = {k: ", ".join(v) if isinstance(v, list) else v for k, v in opts.items() if not isinstance(v, dict)}
        if flat.get("url"):
            remotes[name] = Remote(name, str(flat["url"]), flat)
    return (str(default) if default else None), remotes


def dvc_remotes(repo_text: bytes | str | None = None, local_text: bytes | str | None = None, *,
                dvc_dir: str | os.PathLike | None = None) -> tuple[str | None, dict[str, Remote]]:
    """(default remote name or None, remotes by name) from all four levels, as DVC sees them:
    read_levels() merged. PointerError (1) for a file ConfigObj refuses."""
    return remotes_of(merge_levels(read_levels(repo_text, local_text, dvc_dir=dvc_dir)))


def dvc_cache_dir(root: str | os.PathLike) -> Path | None:
    """The DVC cache folder `cache.dir` names at any level (relative to the file that sets it)
    for the DVC project at `root`, or None for the default `<root>/.dvc/cache`. With `cache.type
    symlink` DVC links every tracked file there, outside the repository when the cache is
    shared: those links are DVC's own, not an escape. A config that cannot be read counts as
    setting nothing (this only widens where links may point)."""
    dvc_dir = Path(root) / ".dvc"
    texts = [(dvc_dir / n).read_bytes() if (dvc_dir / n).is_file() else None for n in ("config", "config.local")]
    try:
        found = (merge_levels(read_levels(*texts, dvc_dir=dvc_dir)).get("cache") or {}).get("dir")
    except PointerError:
        return None
    return Path(found) if isinstance(found, str) and found else None


def _lower_keys(data: dict) -> dict:
    return {str(k).lower(): _lower_keys(v) if isinstance(v, dict) else v for k, v in data.items()}


def _merge(into: dict, update: dict) -> None:
    for key, val in update.items():
        if isinstance(into.get(key), dict) and isinstance(val, dict):
            _merge(into[key], val)
        else:
            into[key] = val


def _resolve(conf_dir: str, path: object) -> object:
    """DVC's Config._resolve (POSIX branch): URLs and absolute paths stay, `~` expands, anything
    else is joined onto the config file's folder."""
    if not isinstance(path, str) or re.match(r"\w+://", path) or os.path.isabs(path):
        return path
    expanded = os.path.expanduser(path)
    if os.path.isabs(expanded):
        return expanded
    return os.path.abspath(os.path.join(conf_dir, path))


def _resolve_paths(conf: dict, conf_dir: str) -> None:
    cache = conf.get("cache")
    if isinstance(cache, dict) and "dir" in cache:
        cache["dir"] = _resolve(conf_dir, cache["dir"])
    for opts in (conf.get("remote") or {}).values():
        if isinstance(opts, dict):
            for key in _REMOTE_PATHS:
                if key in opts:
                    opts[key] = _resolve(conf_dir, opts[key])
