"""``just bench``: run every benchmark and print one BENCH line per figure."""

from __future__ import annotations


def main() -> None:
    print("no benchmarks yet")


if __name__ == "__main__":
    main()
