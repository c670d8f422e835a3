#!/usr/bin/env python3
"""Regenerates world-110m.path, the report's basemap, from world-atlas's countries-110m.json.

    npm pack world-atlas@2.0.2 && tar xzf world-atlas-2.0.2.tgz
    python3 engine/report/assets/basemap.py package/countries-110m.json > engine/report/assets/world-110m.path

The output is one SVG path (country outlines) in an equirectangular projection whose
viewBox is 0 0 360 180: x = longitude + 180, y = 90 - latitude, to one decimal.
"""
import json
import sys


def decode_arcs(topology):
    scale = topology["transform"]["scale"]
    translate = topology["transform"]["translate"]
    arcs = []
    for arc in topology["arcs"]:
        x = y = 0
        points = []
        for dx, dy in arc:
            x += dx
            y += dy
            points.append((x * scale[0] + translate[0], y * scale[1] + translate[1]))
        arcs.append(points)
    return arcs


def ring(arcs, indices):
    points = []
    for index in indices:
        arc = arcs[index] if index >= 0 else list(reversed(arcs[~index]))
        points.extend(arc if not points else arc[1:])
    return points


def main():
    topology = json.load(open(sys.argv[1]))
    arcs = decode_arcs(topology)
    parts = []
    for geometry in topology["objects"]["countries"]["geometries"]:
        polygons = geometry.get("arcs") or []
        if geometry["type"] == "Polygon":
            polygons = [polygons]
        for polygon in polygons:
            for indices in polygon:
                points = ring(arcs, indices)
                # A ring that crosses the antimeridian is split where it jumps across the
                # map, rather than drawn as a line over the whole world.
                text = ""
                last = None
                split = False
                for lon, lat in points:
                    p = (round(lon + 180, 1), round(90 - lat, 1))
                    if p == last:
                        continue
                    jump = last is not None and abs(p[0] - last[0]) > 180
                    split = split or jump
                    text += ("M" if last is None or jump else "L") + f"{p[0]:g} {p[1]:g}"
                    last = p
                if len(points) > 2:
                    parts.append(text + ("" if split else "Z"))
    sys.stdout.write("".join(parts) + "\n")


main()
