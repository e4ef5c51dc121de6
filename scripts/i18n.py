"""Keep the pages' catalogs complete (service.devtools.catalogs).

python scripts/i18n.py check        # list strings with no entry or no Chinese translation
python scripts/i18n.py add AREA     # append the missing ones to templates/locale/*/AREA.po
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from service.devtools.catalogs import add_missing, problems


def main(argv: list[str]) -> int:
    if argv[:1] == ["check"]:
        found = list(problems())
        for line in found:
            print(line)
        return 1 if found else 0
    if len(argv) == 2 and argv[0] == "add":
        print(f"added {add_missing(argv[1])} entries to {argv[1]}.po")
        return 0
    print(__doc__)
    return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
