"""Paths and corpus helpers shared by the benchmarks."""
from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("CITEBOT_SHARED", ROOT.parent / "shared"))
BBC = SHARED / "data" / "bbc"


def combined_folder(tmp: Path) -> Path:
    """seeds/ and the BBC folder side by side (symlinks), as one articles folder.

    The links leave the folder: open it with ``follow_outside_links=True``."""
    folder = tmp / "articles"
    folder.mkdir()
    (folder / "seeds").symlink_to(ROOT / "seeds", target_is_directory=True)
    (folder / "bbc").symlink_to(BBC, target_is_directory=True)
    return folder
