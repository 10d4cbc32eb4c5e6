#!/usr/bin/env python3
"""Writes a copy of a city file with N more bus validators spread over its bus lines, for the
front-end load test (Benchmarks/frontend.sh): a city day from many terminals.
Usage: city-terminals.py CITY.json N OUT.json"""
import json, sys

city_path, extra, out_path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
city = json.load(open(city_path))
buses = [t for t in city["terminals"] if "bus" in t]
if not buses:
    sys.exit(f"{city_path} has no bus terminals to copy")
taken = {t["id"] for t in city["terminals"]}
added = 0
n = 0
while added < extra:
    model = buses[n % len(buses)]
    # 7100 29 NNNNNN: a block of IDs the example city does not use.
    tid = "710029%06d" % n
    n += 1
    if tid in taken:
        continue
    city["terminals"].append({"id": tid, "operator": model["operator"],
                              "bus": {"line": model["bus"]["line"], "vehicle": f"bench-{n:06d}"}})
    taken.add(tid)
    added += 1
json.dump(city, open(out_path, "w"), ensure_ascii=False, indent=1)
print(f"{out_path}: {len(city['terminals'])} terminals")
