"""Where the project's own folders are: one place, so moving a module inside
the package never changes what it reads (configs/, tasks/, models/)."""

from __future__ import annotations

from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
CONFIG_DIR = PROJECT_ROOT / "configs"
TASKS_DIR = PROJECT_ROOT / "tasks"
