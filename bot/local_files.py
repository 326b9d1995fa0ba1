"""Files of a self-hosted Bot API server in --local mode.

Such a server answers getFile with a path on its own disk and serves no file downloads over
HTTP (that is what lifts the 20 MB limit). We read the file from its working directory,
mounted here, and from nowhere else: a path that leaves the directory is refused, so a
confused or hostile server cannot make us file /etc/passwd as a customer's attachment.
"""

from __future__ import annotations

from pathlib import Path

from aiogram.client.telegram import FilesPathWrapper


class LocalFileRefused(Exception):
    """The path is outside the server's directory, or the file is not there."""


class LocalBotApiFiles(FilesPathWrapper):
    def __init__(self, server_dir: Path, local_dir: Path) -> None:
        self.server_dir = server_dir
        self.local_dir = local_dir

    def to_local(self, path: Path | str) -> Path:
        server_path = self.server_dir / path  # a relative path is taken as inside the dir
        try:
            relative = server_path.relative_to(self.server_dir)
        except ValueError:
            raise LocalFileRefused(f"{path} is outside {self.server_dir}") from None
        root = self.local_dir.resolve()
        local = (root / relative).resolve()  # follows ../ and symlinks before the check
        if not local.is_relative_to(root):
            raise LocalFileRefused(f"{path} leaves {self.server_dir}")
        return local

    def to_server(self, path: Path | str) -> Path:
        return self.server_dir / Path(path).relative_to(self.local_dir)
