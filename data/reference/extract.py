#!/usr/bin/env python3
"""Cut the shipped reference tables in data/reference/ out of the full England files.

Run from the repository root with the shared reference data beside the checkout:
    python3 data/reference/extract.py ../shared/data
It keeps only the local authorities that the shipped place configurations name (LADS below), so
data/ stays small. Every output is a plain UTF-8 CSV with a header row. Sources and licences are in
data/README.md. Standard library only.
"""
import csv
import shutil
import sys
from pathlib import Path

LADS = ["E09000001", "E09000012", "E07000118", "E06000033"]  # City, Hackney, Chorley, Southend

# Illustrative best fit of Hackney's 2020 wards (and the City) to City and Hackney's eight
# neighbourhoods (primary care network footprints). See data/README.md: not an official mapping.
NEIGHBOURHOOD_BY_WARD = {
    "Woodberry Down": "Woodberry Wetlands",
    "Brownswood": "Woodberry Wetlands",
    "Stamford Hill West": "Woodberry Wetlands",
    "Springfield": "Springfield Park",
    "Cazenove": "Springfield Park",
    "Clissold": "Clissold Park",
    "Stoke Newington": "Clissold Park",
    "Shacklewell": "Clissold Park",
    "Hackney Downs": "Hackney Downs",
    "Lea Bridge": "Hackney Downs",
    "Hackney Wick": "Hackney Marshes",
    "King's Park": "Hackney Marshes",
    "Homerton": "Hackney Marshes",
    "Victoria": "Well Street Common",
    "Hackney Central": "Well Street Common",
    "London Fields": "London Fields",
    "Dalston": "London Fields",
    "De Beauvoir": "London Fields",
    "Hoxton East & Shoreditch": "Shoreditch Park and City",
    "Hoxton West": "Shoreditch Park and City",
    "Haggerston": "Shoreditch Park and City",
}
CITY = "E09000001"


def main(src: Path, out: Path) -> None:
    with open(src / "lookups/lsoa11_ward20_lad20_england.csv", newline="", encoding="utf-8") as f:
        lookup = [r for r in csv.DictReader(f) if r["LAD20CD"] in LADS]
    keep = {r["LSOA11CD"] for r in lookup}
    lookup.sort(key=lambda r: (r["LAD20CD"], r["WD20CD"], r["LSOA11CD"]))
    with open(out / "geography.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["lsoa11cd", "lsoa11nm", "ward_code", "ward_name", "lad_code", "lad_name"])
        for r in lookup:
            w.writerow([r["LSOA11CD"], r["LSOA11NM"], r["WD20CD"], r["WD20NM"], r["LAD20CD"], r["LAD20NM"]])

    def cut(name_in: str, name_out: str, drop: tuple) -> None:
        with open(src / name_in, newline="", encoding="utf-8") as f:
            rd = csv.DictReader(f)
            cols = [c for c in rd.fieldnames if c not in drop]
            rows = [r for r in rd if r["lsoa11cd"] in keep]
        with open(out / name_out, "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f, lineterminator="\n")
            w.writerow(cols)
            for r in sorted(rows, key=lambda r: r["lsoa11cd"]):
                w.writerow([r[c] for c in cols])
        assert len(rows) == len(keep), name_in

    cut("imd2019/imd2019_lsoa11_england_ranks_deciles.csv", "imd2019.csv",
        ("lsoa11nm", "lad19cd", "lad19nm"))
    cut("population/lsoa11_pop_mid2019_syoa_persons_england.csv", "population_mid2019.csv",
        ("lsoa11nm", "lad20cd", "lad20nm"))
    cut("population/lsoa11_pop_mid2020_syoa_persons_england.csv", "population_mid2020.csv",
        ("lsoa11nm", "lad20cd", "lad20nm"))
    shutil.copy(src / "esp2013/esp2013.csv", out / "esp2013.csv")
    for p in sorted((src / "boundaries").glob("*.geojson")):
        shutil.copy(p, out / "boundaries" / p.name)

    nb = out.parent / "places" / "city-and-hackney-neighbourhoods.csv"
    with open(nb, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["lsoa11cd", "neighbourhood"])
        for r in lookup:
            if r["LAD20CD"] == CITY:
                w.writerow([r["LSOA11CD"], "Shoreditch Park and City"])
            elif r["LAD20CD"] == "E09000012":
                w.writerow([r["LSOA11CD"], NEIGHBOURHOOD_BY_WARD[r["WD20NM"]]])


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/data"), Path(__file__).parent)
