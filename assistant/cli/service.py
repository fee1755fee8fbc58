"""The systemd user service: `assistant service install|uninstall|status`."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from assistant.core.errors import ConfigError

TEMPLATE = Path(__file__).resolve().parents[2] / "systemd" / "assistant.service"


def unit_path() -> Path:
    config = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return config / "systemd" / "user" / "assistant.service"


def render_unit(executable: str, config: Path, working_dir: Path) -> str:
    """The unit file from systemd/assistant.service with this install's paths."""
    text = TEMPLATE.read_text()
    return (
        text.replace("@EXEC@", executable)
        .replace("@CONFIG@", str(config))
        .replace("@WORKDIR@", str(working_dir))
    )


def _systemctl(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["systemctl", "--user", *args], capture_output=True, text=True, timeout=30)


def command(action: str, config: Path) -> int:
    path = unit_path()
    if action == "install":
        if not config.is_file():
            raise ConfigError(f"{config}: config file not found (pass --config PATH)")
        executable = shutil.which("assistant") or str(Path(sys.executable).with_name("assistant"))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render_unit(executable, config, config.parent))
        print(f"wrote {path}")
        if shutil.which("systemctl") is None:
            print("systemctl not found: start it with 'systemctl --user enable --now assistant' where systemd runs")
            return 0
        for step in (("daemon-reload",), ("enable", "--now", "assistant.service")):
            result = _systemctl(*step)
            if result.returncode != 0:
                print(f"systemctl --user {' '.join(step)}: {result.stderr.strip()}", file=sys.stderr)
                return 1
        print("enabled and started: journalctl --user -u assistant -f shows its log")
        return 0
    if action == "uninstall":
        if shutil.which("systemctl") is not None and path.exists():
            _systemctl("disable", "--now", "assistant.service")
        if path.exists():
            path.unlink()
            print(f"removed {path}")
        else:
            print(f"not installed ({path})")
        if shutil.which("systemctl") is not None:
            _systemctl("daemon-reload")
        return 0
    if not path.exists():
        print(f"not installed ({path})")
        return 1
    if shutil.which("systemctl") is None:
        print(f"installed at {path}; systemctl not available")
        return 0
    result = _systemctl("status", "--no-pager", "assistant.service")
    print(result.stdout.strip() or result.stderr.strip())
    return 0 if result.returncode == 0 else 1
