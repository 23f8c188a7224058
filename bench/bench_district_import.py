"""Time `twin district import` of GeoJSON footprints (issue target: 1,000 footprints in at most 60 s).

Writes N OpenStreetMap-style footprints around Beucha (rectangles of 8-24 m, 1-4 storeys,
mixed building tags), then runs the import as the command does: read, estimate, match each
building to its nearest bus of the Beucha grid, write the district file and load it back.

    .venv/bin/python bench/bench_district_import.py [--n 1000]
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
import time
from pathlib import Path

from models.district_writer import import_district


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000, help="footprints")
    args = parser.parse_args()
    kinds = ["house", "detached", "apartments", "terrace", "yes", "commercial", "school"]
    features = []
    for i in range(args.n):
        lon, lat = 12.55 + (i % 50) * 0.0006, 51.315 + (i // 50) * 0.0005
        width, depth = 8 + (i * 7) % 17, 8 + (i * 5) % 11
        d_lat = math.degrees(depth / 6_371_008.8)
        d_lon = math.degrees(width / (6_371_008.8 * math.cos(math.radians(lat))))
        ring = [[lon, lat], [lon + d_lon, lat], [lon + d_lon, lat + d_lat], [lon, lat + d_lat], [lon, lat]]
        props = {"@id": f"way/{i}", "building": kinds[i % len(kinds)], "building:levels": str(1 + i % 4)}
        geometry = {"type": "Polygon", "coordinates": [ring]}
        features.append({"type": "Feature", "properties": props, "geometry": geometry})
    with tempfile.TemporaryDirectory() as folder:
        source = Path(folder) / "footprints.geojson"
        source.write_text(json.dumps({"type": "FeatureCollection", "features": features}), encoding="utf-8")
        start = time.perf_counter()
        result = import_district(source, like="beucha", out=Path(folder) / "district.yaml")
        wall = time.perf_counter() - start
    n_defaulted = sum(len(fields) for fields in result.defaulted.values())
    print(
        f"{args.n} footprints -> district file in {wall:.1f} s (target <= 60 s); "
        f"{n_defaulted} estimated fields listed over {len(result.defaulted)} buildings"
    )


if __name__ == "__main__":
    main()
