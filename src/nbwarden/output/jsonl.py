"""One JSON object per file, one per line: what `score` and other tools read."""
from __future__ import annotations

import orjson


class Writer:
    def __init__(self, stream, **_):
        self.stream = stream

    def write(self, report) -> None:
        self.stream.write(orjson.dumps(report.to_dict()).decode() + "\n")
        self.stream.flush()

    def close(self) -> None:
        pass
