"""Ingest benchmark: normalising 1 h of 8 kHz mu-law WAV through
`recordings.audio.normalise` vs plain ffmpeg doing the same conversion.

    .venv/bin/python bench/ingest.py [--seconds 3600] [--stereo48k]

Prints CPU time (ours incl. children vs plain ffmpeg), the ratio (target <= 1.3) and the
peak RSS of this process and of the ffmpeg children (targets: 250 MB for 8 kHz mono,
600 MB for 48 kHz stereo). Each measurement runs in a fresh subprocess so peak RSS and
child CPU are not mixed up between the two.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

MEASURE = r"""
import asyncio, json, resource, subprocess, sys
from pathlib import Path
mode, source, out = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
if mode == "ours":
    from recordings.audio import AudioLimits, normalise
    asyncio.run(normalise(source, out, AudioLimits(max_bytes=1 << 40, max_seconds=1e9)))
else:
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", str(source), "-ac", "1",
                    "-c:a", "libopus", "-b:a", "24k", "-application", "voip", "-y", str(out)],
                   check=True)
me = resource.getrusage(resource.RUSAGE_SELF)
kids = resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({"cpu": me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime,
                  "rss_self_mb": me.ru_maxrss / 1024, "rss_child_mb": kids.ru_maxrss / 1024}))
"""


def _measure(mode: str, source: Path, out: Path) -> dict[str, float]:
    proc = subprocess.run(
        [sys.executable, "-c", MEASURE, mode, str(source), str(out)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=3600)
    parser.add_argument("--stereo48k", action="store_true", help="48 kHz stereo PCM input")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "input.wav"
        codec = (
            ["-ar", "48000", "-ac", "2", "-c:a", "pcm_s16le"]
            if args.stereo48k
            else ["-ar", "8000", "-ac", "1", "-c:a", "pcm_mulaw"]
        )
        subprocess.run(
            [
                "ffmpeg",
                "-nostdin",
                "-v",
                "error",
                "-f",
                "lavfi",
                "-i",
                f"sine=frequency=440:duration={args.seconds}",
                *codec,
                "-y",
                str(source),
            ],
            check=True,
        )
        plain = _measure("plain", source, Path(tmp) / "plain.ogg")
        ours = _measure("ours", source, Path(tmp) / "ours.ogg")
    ratio = ours["cpu"] / plain["cpu"] if plain["cpu"] else float("inf")
    limit_rss = 600 if args.stereo48k else 250
    peak = max(ours["rss_self_mb"], ours["rss_child_mb"])
    print(f"input: {args.seconds} s {'48 kHz stereo PCM' if args.stereo48k else '8 kHz mu-law'}")
    print(f"cpu plain ffmpeg {plain['cpu']:.2f} s, ours {ours['cpu']:.2f} s, ratio {ratio:.2f}")
    print(
        f"peak rss: python {ours['rss_self_mb']:.0f} MB, ffmpeg {ours['rss_child_mb']:.0f} MB "
        f"(limit {limit_rss} MB)"
    )
    ok = ratio <= 1.3 and peak <= limit_rss
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
